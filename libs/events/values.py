"""Value types and value objects shared by several events (and their consumers)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from itertools import pairwise
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

# Patterns use [0-9], not \d: pydantic's regex engine treats \d as any Unicode digit.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


# The driver reads PostgreSQL's -infinity/infinity back as these two, naive: refuse them.
_CALENDAR_EDGES = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
_EDGE_YEARS = (datetime.min.year, datetime.max.year)


def to_utc(value: datetime) -> datetime:
    """An aware instant in UTC; refused when it lies at or beyond the calendar's edge."""
    try:
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    except OverflowError as exc:  # an instant at the very edge of the calendar
        raise ValueError("the instant is outside the supported range") from exc
    # Only the first and last year can hold an edge: the comparison is skipped for the rest.
    if utc.year in _EDGE_YEARS and utc in _CALENDAR_EDGES:
        raise ValueError("the instant is outside the supported range")
    return utc


def _storable(value: str) -> str:
    """Text PostgreSQL can store: no NUL characters and no lone surrogates."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


def _whole_minutes(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time carries no timezone")
    if value.second or value.microsecond:
        raise ValueError("a local time is given in whole minutes (HH:MM)")
    return value


# Strict: a JSON number only; "100", true and 100.0 are refused (stored events hold numbers).
Cents = Annotated[int, Field(ge=0, strict=True)]
"""An amount of money in euro cents, never negative."""
SignedCents = Annotated[int, Field(strict=True)]
"""An amount in euro cents that may be negative (balances, corrections)."""
Count = Annotated[int, Field(ge=0, strict=True)]
PhoneNumber = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
"""A telephone number in E.164 form, e.g. +31851234567."""
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]
"""An e-mail address as events carry it: the loose form every stored event was written under.

New addresses are checked at the edge with `EmailAddress`; events keep this form so that
history written under an older rule still reads.
"""


def checked_email(address: str) -> str:
    """The address as given once email-validator finds it well-formed; else a ValueError why."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not an e-mail address: {exc}") from None
    return address


def is_email(address: str) -> bool:
    """Whether `address` is a well-formed e-mail address (no DNS lookup)."""
    try:
        checked_email(address)
    except ValueError:
        return False
    return len(address) <= 254


EmailAddress = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(checked_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]
"""An e-mail address given at an edge (an API body), checked by email-validator."""
HttpsUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https://[^\s]+$")]
WebUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]
"""An http(s) link, e.g. one a person opens from an SMS or e-mail."""
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@:-]{1,100}$")]
"""An opaque id issued outside this system (operator login, telephony reference)."""
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)]
ShortText = Annotated[str, StringConstraints(max_length=500), AfterValidator(_storable)]
Text = Annotated[str, StringConstraints(max_length=5000), AfterValidator(_storable)]
LongText = Annotated[str, StringConstraints(max_length=50000), AfterValidator(_storable)]
Period = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
"""A calendar month in Europe/Amsterdam, "YYYY-MM"."""
TimeZoneName = Annotated[
    str, StringConstraints(max_length=64, pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$")
]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""A timezone-aware instant, normalised to UTC."""
LocalTime = Annotated[time, AfterValidator(_whole_minutes)]
"""A wall-clock time of day in the client's timezone, whole minutes."""
Language = Literal["nl", "de", "en", "fr"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ValueObject(BaseModel):
    """Base of the immutable value objects nested in events."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PerCallPlan(ValueObject):
    """Billable calls are invoiced monthly at the rate in force."""

    mode: Literal["per_call"] = "per_call"


class PunchCardPlan(ValueObject):
    """Billable calls draw on prepaid credit; a warning goes out below the threshold."""

    mode: Literal["punch_card"] = "punch_card"
    low_balance_threshold_cents: Cents = 1000


class FixedMonthlyPlan(ValueObject):
    """A fixed monthly amount covers some calls; extra calls are billed on top."""

    mode: Literal["fixed_monthly"] = "fixed_monthly"
    monthly_amount_cents: Cents
    included_calls: Count


Plan = Annotated[PerCallPlan | PunchCardPlan | FixedMonthlyPlan, Field(discriminator="mode")]
"""How a client pays for calls, discriminated by `mode`."""


class EmailHandling(ValueObject):
    """Whether the bureau also handles the client's e-mail, and its custom monthly fee."""

    enabled: bool = False
    monthly_fee_cents: Cents = 0

    @model_validator(mode="after")
    def _no_fee_when_disabled(self) -> EmailHandling:
        if not self.enabled and self.monthly_fee_cents:
            raise ValueError("monthly_fee_cents must be 0 when e-mail handling is disabled")
        return self


class NotificationPreferences(ValueObject):
    """How call messages reach the client: one daily digest (default) or a mail per call."""

    mode: Literal["daily_digest", "per_call"] = "daily_digest"
    recipients: tuple[Email, ...] = Field(min_length=1, max_length=20)
    digest_time: LocalTime = time(17, 15)


class OpeningSpan(ValueObject):
    """One stretch of a day during which the office is open, in local time."""

    opens: LocalTime
    closes: LocalTime

    @model_validator(mode="after")
    def _opens_before_closing(self) -> OpeningSpan:
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        return self


Day = Annotated[tuple[OpeningSpan, ...], Field(max_length=6)]
_WORKDAY = (OpeningSpan(opens=time(8), closes=time(17)),)


class WeeklySchedule(ValueObject):
    """Opening spans per weekday; the default is Monday to Friday 08:00-17:00."""

    mon: Day = _WORKDAY
    tue: Day = _WORKDAY
    wed: Day = _WORKDAY
    thu: Day = _WORKDAY
    fri: Day = _WORKDAY
    sat: Day = ()
    sun: Day = ()

    @model_validator(mode="after")
    def _spans_ordered(self) -> WeeklySchedule:
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            spans: tuple[OpeningSpan, ...] = getattr(self, day)
            if any(a.closes > b.opens for a, b in pairwise(spans)):
                raise ValueError(f"{day}: opening spans must be in order and not overlap")
        return self


class Closure(ValueObject):
    """A temporary closure (holiday, company outing) overriding the weekly schedule."""

    starts_at: UtcDatetime
    ends_at: UtcDatetime
    reason: ShortText = ""

    @model_validator(mode="after")
    def _starts_before_end(self) -> Closure:
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class OfficeHours(ValueObject):
    """When the client's office counts as open: weekly schedule, holidays and closures."""

    timezone: TimeZoneName = "Europe/Amsterdam"
    weekly: WeeklySchedule = WeeklySchedule()
    public_holidays: Literal["nl"] | None = "nl"
    closures: tuple[Closure, ...] = Field(default=(), max_length=200)
