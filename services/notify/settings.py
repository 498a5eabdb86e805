"""Settings only the notify service reads (environment variables FRONTDESK_NOTIFY_*)."""

from __future__ import annotations

from email.utils import parseaddr
from uuid import uuid4

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.platform.outbound import OutboundPolicy
from services.notify.domain.retry import RetryPolicy

PREFIX = "FRONTDESK_NOTIFY_"


def _env(name: str, *older: str) -> AliasChoices:
    """The variable FRONTDESK_NOTIFY_<NAME>, and older spellings still accepted."""
    return AliasChoices(f"{PREFIX}{name.upper()}", *older)


class NotifySettings(BaseSettings):
    """Where mail, SMS and chat messages go, and how hard notify tries to deliver them."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", populate_by_name=True)

    smtp_host: str = Field(
        default="127.0.0.1", validation_alias=_env("smtp_host", "FRONTDESK_SMTP_HOST")
    )
    smtp_port: int = Field(
        default=1025, ge=1, le=65535, validation_alias=_env("smtp_port", "FRONTDESK_SMTP_PORT")
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=300)
    sender: str = Field(default="Frontdesk <berichten@frontdesk.local>", max_length=300)
    message_id_domain: str = Field(default="frontdesk.local", pattern=r"^[A-Za-z0-9.-]{1,200}$")
    brand: str = Field(default="Frontdesk", min_length=1, max_length=100)

    sms_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    sms_token: SecretStr | None = None
    sms_sender: str = Field(default="Frontdesk", pattern=r"^[A-Za-z0-9 +]{1,15}$")
    chat_allow_http: bool = Field(
        default=False, description="Accept plain-http chat webhooks (tests and development only)"
    )
    http_timeout_seconds: float = Field(default=10, gt=0, le=120)
    outbound_allow: str = Field(
        default="",
        max_length=2000,
        description="Hosts and networks, comma-separated, that the SMS provider and chat "
        "webhooks may reach although they are private or local (e.g. 10.0.0.0/8,sms.internal)",
    )
    ack_url_template: str | None = Field(
        default=None,
        description="Link to acknowledge an escalation; may use {escalation_id}, {attempt}, "
        "{contact_index}, {call_id} (empty for a mail), {conversation_id} (empty for a call)",
    )

    send_attempts: int = Field(default=3, ge=1, le=10, description="Tries per claim (tenacity)")
    retry_base_seconds: float = Field(default=1.0, gt=0, le=60)
    max_claims: int = Field(default=12, ge=1, le=100, description="Claims before giving up")
    lease_seconds: float = Field(default=180, gt=0, le=3600)
    sender_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    sender_batch: int = Field(default=20, ge=1, le=500)
    schedule_seconds: float = Field(default=30, gt=0, le=3600)
    digest_catch_up_days: int = Field(
        default=7,
        ge=0,
        le=31,
        description="Days before today whose digest, missed while notify was down, is still "
        "made for its own day (0: today's only)",
    )

    @field_validator("sender")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("sender must be an e-mail address, optionally with a name")
        return value

    @field_validator("ack_url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            ack_url(
                value, escalation_id=uuid4(), attempt=1, contact_index=0, call_id=uuid4(),
                conversation_id="",
            )  # fmt: skip
        return value

    @property
    def outbound_policy(self) -> OutboundPolicy:
        """Where SMS and chat requests may go: public addresses and `outbound_allow`."""
        return OutboundPolicy.parse(self.outbound_allow.split(","))

    @property
    def send_seconds(self) -> float:
        """The longest one attempt to hand a message over may take before it is abandoned."""
        return max(self.smtp_timeout_seconds, self.http_timeout_seconds)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The domain's retry and give-up rule with this deployment's numbers."""
        return RetryPolicy(
            max_claims=self.max_claims,
            tries_per_claim=self.send_attempts,
            base_seconds=self.retry_base_seconds,
        )

    @model_validator(mode="after")
    def _lease_outlasts_a_claim(self) -> NotifySettings:
        # A claim still sending when its lease ends could be taken over and sent twice.
        longest = self.retry_policy.longest_claim(self.send_seconds)
        if self.lease_seconds <= longest:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must exceed the longest claim ({longest}s: "
                "send_attempts x timeout plus the pauses between tries)"
            )
        return self


def ack_url(template: str, **values: object) -> str:
    """The acknowledgement link for an escalation attempt."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"ack_url_template: unknown or malformed placeholder ({exc})") from exc
