"""Settings only the calendar service reads (environment variables FRONTDESK_CALENDAR_*)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.platform.outbound import OutboundPolicy


class CalendarSettings(BaseSettings):
    """How often linked calendars are read, how long a read may take, when callbacks escalate."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_CALENDAR_", extra="ignore")

    observe_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="How often each linked calendar is read"
    )
    heartbeat_seconds: float = Field(
        default=240.0,
        gt=0,
        le=86_400,
        description="An unchanged calendar is recorded as observed again after this long, so "
        "that readers know their state is fresh",
    )
    read_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long one read or write of a calendar may take"
    )
    concurrent_reads: int = Field(default=8, ge=1, le=100)
    window_hours: int = Field(
        default=36, ge=1, le=24 * 14, description="How far ahead each read looks"
    )
    callback_grace_minutes: int = Field(
        default=30,
        ge=0,
        le=24 * 60,
        description="An open callback this long past its due time is overdue and escalates",
    )
    timer_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    google_token_uri: str = Field(
        default="https://oauth2.googleapis.com/token",
        pattern=r"^https?://[^\s]+$",
        description="Where Google refresh tokens are exchanged (a local stand-in in tests)",
    )
    google_api_root: str = Field(
        default="https://www.googleapis.com/",
        pattern=r"^https?://[^\s]+/$",
        description="Google's API root (a local stand-in in tests)",
    )
    google_client_id: str = ""
    google_client_secret: str = ""
    allow_http_calendars: bool = Field(
        default=False,
        description="Accept plain-http CalDAV URLs (local test servers only; never in production)",
    )

    outbound_allow: str = Field(
        default="",
        description="Hosts and networks a CalDAV URL may lead to besides public addresses "
        "(comma-separated, e.g. a calendar server on the office network)",
    )

    @property
    def outbound_policy(self) -> OutboundPolicy:
        """Where CalDAV requests may go: public addresses and `outbound_allow`."""
        return OutboundPolicy.parse(self.outbound_allow.split(","))

    @property
    def callback_grace(self) -> timedelta:
        """How long past its due time an open callback waits before it escalates."""
        return timedelta(minutes=self.callback_grace_minutes)
