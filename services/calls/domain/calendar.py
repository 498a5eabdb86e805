"""What the operator's screen says of the client's calendar: free, busy or unknown, and why.

Pure: from what calls last learnt of the client's linked calendar (services/calls/calendars.py),
the client's office hours and the instant of the request, with libs.availability's arithmetic.
The state is only as good as the last reading: outside the window read it is unknown, and an
old reading, or a calendar that cannot be read at the moment, is shown as stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.availability import Interval, availability, merged
from libs.events.calendar import Permission, Provider
from libs.events.values import OfficeHours
from libs.office_hours import DEFAULT_ZONE

State = Literal["free", "busy", "unknown"]


@dataclass(frozen=True)
class BusyTime:
    """A stretch of busy time in the client's calendar; a title only where operators see it."""

    start: datetime
    end: datetime
    title: str = ""

    @property
    def interval(self) -> Interval:
        """The stretch as an interval of libs.availability."""
        return Interval(self.start, self.end)


@dataclass(frozen=True)
class Observation:
    """What the calendar showed when it was last read: the window read and its busy time."""

    read_at: datetime
    window: Interval
    busy: tuple[BusyTime, ...] = ()


@dataclass(frozen=True)
class LinkedCalendar:
    """The client's linked calendar as calls keeps it: the link and its last reading."""

    provider: Provider
    permission: Permission
    show_titles: bool
    observation: Observation | None = None
    unreachable_since: datetime | None = None


@dataclass(frozen=True)
class CalendarView:
    """The calendar part of the screen pop, at one instant."""

    linked: bool
    provider: Provider | None
    permission: Permission | None
    state: State
    until: datetime | None
    """When the state ends (None: unknown, or not within the window read)."""
    next_free_slot: Interval | None
    """The next free slot of at least MIN_SLOT later today within office hours, if any."""
    appointments_today: tuple[BusyTime, ...]
    read_at: datetime | None
    stale: bool
    unreachable_since: datetime | None


NOT_LINKED = CalendarView(
    linked=False, provider=None, permission=None, state="unknown", until=None,
    next_free_slot=None, appointments_today=(), read_at=None, stale=False,
    unreachable_since=None,
)  # fmt: skip
"""What the screen shows of a client without a linked calendar."""


def calendar_view(
    calendar: LinkedCalendar | None, hours: OfficeHours, at: datetime, stale_after: timedelta
) -> CalendarView:
    """The client's calendar as the screen pop shows it at `at`."""
    if calendar is None:
        return NOT_LINKED
    seen = calendar.observation
    state, until, slot = current_state(seen, hours, at) if seen else ("unknown", None, None)
    return CalendarView(
        linked=True,
        provider=calendar.provider,
        permission=calendar.permission,
        state=state,
        until=until,
        next_free_slot=slot,
        appointments_today=appointments_today(calendar, hours, at),
        read_at=seen.read_at if seen else None,
        stale=is_stale(calendar, at, stale_after),
        unreachable_since=calendar.unreachable_since,
    )


def current_state(
    seen: Observation, hours: OfficeHours, at: datetime
) -> tuple[State, datetime | None, Interval | None]:
    """(free or busy, until when, the next free slot today) by a reading; unknown outside it."""
    if not seen.window.holds(at):
        return "unknown", None, None
    busy = [span.interval for span in seen.busy]
    today_end = min(local_day(hours, at).end, seen.window.end)
    today = availability(at, busy, today_end, hours)
    until = today.until
    if until is None and today_end < seen.window.end:
        until = _holds_until(at, busy, seen.window.end, busy_now=today.busy)
    return ("busy" if today.busy else "free"), until, today.next_free


def _holds_until(
    at: datetime, busy: Sequence[Interval], horizon: datetime, *, busy_now: bool
) -> datetime | None:
    """When the state at `at` ends, looked at up to `horizon` (None: not before it)."""
    ahead = [block for block in merged(busy) if block.end > at]
    if busy_now:
        end: datetime | None = ahead[0].end  # merged and sorted: the first is the current one
    else:
        end = ahead[0].start if ahead else None
    return end if end is not None and end < horizon else None


def appointments_today(
    calendar: LinkedCalendar, hours: OfficeHours, at: datetime
) -> tuple[BusyTime, ...]:
    """The busy time of the client's local day from `at` on; titles only where allowed."""
    if calendar.observation is None:
        return ()
    rest_of_day = Interval(at, local_day(hours, at).end)
    spans = sorted(
        (s for s in calendar.observation.busy if s.interval.overlaps(rest_of_day)),
        key=lambda s: (s.start, s.end),
    )
    return tuple(s if calendar.show_titles else replace(s, title="") for s in spans)


def is_stale(calendar: LinkedCalendar, at: datetime, stale_after: timedelta) -> bool:
    """Whether the last reading may no longer hold: none yet, too old, or unreachable now."""
    seen = calendar.observation
    if calendar.unreachable_since is not None or seen is None:
        return True
    return at - seen.read_at > stale_after


def local_day(hours: OfficeHours, at: datetime) -> Interval:
    """The client's calendar day holding `at`: midnight to midnight in its office's zone (UTC)."""
    zone = _zone(hours.timezone)
    day = at.astimezone(zone).date()
    start, end = (datetime.combine(d, time(), zone) for d in (day, day + timedelta(days=1)))
    return Interval(start.astimezone(UTC), end.astimezone(UTC))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # As libs.office_hours: an unknown zone must not keep the screen pop from showing.
        return ZoneInfo(DEFAULT_ZONE)
