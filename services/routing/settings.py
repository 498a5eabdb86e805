"""Settings only the routing service reads (environment variables FRONTDESK_ROUTING_*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RoutingSettings(BaseSettings):
    """Secrets of the TwiML webhook and the ack links, how the escalation timers and the
    operators' feed run."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_ROUTING_", extra="ignore")

    twilio_auth_token: SecretStr | None = None
    ack_secret: SecretStr | None = Field(
        default=None, description="HMAC key of the signed acknowledgement links"
    )
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The base URL Twilio and ack links use (behind a proxy); default: the request",
    )
    ack_link_ttl_hours: int = Field(
        default=24,
        ge=1,
        le=720,
        description="How long after its attempt an acknowledgement link still works (hours)",
    )
    timer_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    roster_gauge_seconds: float = Field(default=5.0, gt=0, le=300)
    timer_batch_size: int = Field(default=200, ge=1, le=10_000)
    book_wait_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How long an escalation waits for its book version to reach routing before "
        "it falls back to the latest version routing knows",
    )
    dial_timeout_seconds: int = Field(default=30, ge=5, le=600)
    feed_poll_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="How often an open feed looks for items a lost notification did not bring",
    )
    feed_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=300, description="A quiet feed sends a keep-alive comment this often"
    )
    feed_max_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="A feed stream ends after this long; the browser resumes it (Last-Event-ID)",
    )
    feed_batch_size: int = Field(default=200, ge=1, le=10_000)
    feed_retention_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 366,
        description="How long feed items are kept; a resume id older than that answers 410",
    )
    feed_prune_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="How often routing removes expired items"
    )
    feed_prune_batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Items removed per transaction, so pruning never holds locks for long",
    )

    @property
    def ack_link_ttl(self) -> timedelta:
        """How long after its attempt an acknowledgement link still works."""
        return timedelta(hours=self.ack_link_ttl_hours)

    @property
    def feed_retention(self) -> timedelta:
        """How long an item stays in the operators' feed."""
        return timedelta(hours=self.feed_retention_hours)
