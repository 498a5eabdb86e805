"""Settings only the calls service reads (environment variables FRONTDESK_CALLS_*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.calls.domain.commands import MAX_BACKDATE


class CallsSettings(BaseSettings):
    """The telephony side of calls (the Twilio webhook's secret, where Twilio reaches us), the
    backdating window and how fresh the screen pop wants a client's calendar."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_CALLS_", extra="ignore")

    twilio_auth_token: SecretStr | None = None
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The base URL Twilio calls (behind a proxy); default: the request's URL",
    )
    operator_queue: str = Field(default="frontdesk-operators", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    voicemail_max_seconds: int = Field(default=120, ge=5, le=3600)
    max_backdate_seconds: int = Field(
        default=int(MAX_BACKDATE.total_seconds()),
        ge=0,
        le=7 * 86400,
        description="How far back a reported call's received_at may lie (staff imports excepted)",
    )

    calendar_stale_seconds: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="How old the last reading of a client's calendar may be before the screen "
        "pop calls it stale (the calendar service records an unchanged calendar every 240 s)",
    )

    @property
    def calendar_stale(self) -> timedelta:
        """The age after which a calendar reading is stale, as a duration."""
        return timedelta(seconds=self.calendar_stale_seconds)

    @property
    def max_backdate(self) -> timedelta:
        """The backdating window as a duration."""
        return timedelta(seconds=self.max_backdate_seconds)
