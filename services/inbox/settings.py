"""Settings only the inbox service reads (environment variables FRONTDESK_INBOX_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.platform.outbound import OutboundPolicy


class InboxSettings(BaseSettings):
    """Where forwarded mail comes in, how big it may be, and the relay replies go out by."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_INBOX_", extra="ignore")

    smtp_host: str = Field(default="127.0.0.1", description="Where the inbound listener listens")
    smtp_port: int = Field(
        default=2525, ge=0, le=65535, description="The inbound SMTP port (0: no listener)"
    )
    inbound_domain: str = Field(
        default="in.frontdesk.example",
        pattern=r"^[a-z0-9.-]{1,200}$",
        description="The domain of the forwarding addresses (its MX points at the listener)",
    )
    max_mail_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    bureau_address: str = Field(
        default="secretariaat@frontdesk.example",
        description="The address replies sent on a client's behalf come from",
    )
    relay_host: str = Field(default="127.0.0.1", description="The SMTP relay replies go out by")
    relay_port: int = Field(default=1025, ge=1, le=65535)
    relay_username: str = ""
    relay_password: SecretStr | None = None
    relay_starttls: bool = False
    timer_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    imap_poll_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How often each client's IMAP mailbox is read"
    )
    imap_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    allow_plain_imap: bool = Field(
        default=False,
        description="Accept IMAP without TLS (local test servers only; never in production)",
    )
    outbound_allow: str = Field(
        default="",
        description="Hosts and networks an IMAP server may be at besides public addresses",
    )
    outbox_poll_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="How often the outbox worker looks for due replies besides being woken",
    )  # fmt: skip
    outbox_max_attempts: int = Field(
        default=12, ge=1, le=100, description="Claims of a reply or forward before giving up"
    )
    outbox_retry_base_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="The pause after the first failed hand-over"
    )
    outbox_retry_max_seconds: float = Field(
        default=1800.0, gt=0, le=86_400, description="The longest pause between two claims"
    )
    outbox_send_seconds: float = Field(
        default=60.0, gt=0, le=600, description="How long one hand-over to the relay may take"
    )
    outbox_lease_seconds: float = Field(
        default=180.0, gt=0, le=3600,
        description="How long a claim holds a row before another worker may take it over",
    )  # fmt: skip
    outbox_batch: int = Field(default=20, ge=1, le=500)

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> InboxSettings:
        # A claim still sending when its lease ends could be taken over and sent twice.
        if self.outbox_lease_seconds <= self.outbox_send_seconds:
            raise ValueError(
                f"outbox_lease_seconds ({self.outbox_lease_seconds}) must exceed "
                f"outbox_send_seconds ({self.outbox_send_seconds})"
            )
        return self

    @property
    def outbound_policy(self) -> OutboundPolicy:
        """Where IMAP connections may go: public addresses and `outbound_allow`."""
        return OutboundPolicy.parse(self.outbound_allow.split(","))
