"""Settings only the intake service reads (environment variables FRONTDESK_INTAKE_*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    """How long a released number rests in the pool; the Twilio account numbers are set up in."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_INTAKE_", extra="ignore")

    number_quarantine_days: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="Days a released number rests in the pool (callers of its old client may "
        "still dial it) before it is offered to another client",
    )

    twilio_account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr | None = None
    twilio_api_base_url: str = Field(
        default="https://api.twilio.com",
        pattern=r"^https?://[^\s/]+$",
        description="Twilio's REST API (another value only for tests)",
    )
    voice_webhook_url: str = Field(
        default="https://frontdesk.example/calls/twilio/voice",
        pattern=r"^https://[^\s]+$",
        description="Where Twilio sends a call to a client's number (the calls service's webhook)",
    )

    screen_pop_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Longest a replica answers a screen pop from its own memory: a change is "
        "seen within milliseconds (LISTEN/NOTIFY), this only bounds a silently broken listening "
        "connection; 0 reads the database every time",
    )

    @property
    def twilio_configured(self) -> bool:
        """Whether numbers are set up through Twilio (else staff tick a checklist step)."""
        return self.twilio_account_sid is not None and self.twilio_auth_token is not None

    @property
    def number_quarantine(self) -> timedelta:
        """How long a released number rests."""
        return timedelta(days=self.number_quarantine_days)
