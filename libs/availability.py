"""Free or busy: what the operator's screen says of a client's calendar at a moment.

From the busy intervals a calendar reports for a day (its own events, or a provider's
free/busy answer) and the client's office hours, work out whether the client is free now,
until when that holds, and the next free slot of at least a minimum length later today
within office hours. Pure: the caller supplies the instant and the intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.events.values import OfficeHours
from libs.office_hours import office_open

STEP = timedelta(minutes=1)
"""Office hours are looked at in steps this long when a free slot is sought."""
MIN_SLOT = timedelta(minutes=15)
"""A free slot shorter than this is not worth offering to a caller."""


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span of time [start, end), both aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("an interval's ends must carry a time zone")
        if self.end <= self.start:
            raise ValueError("an interval must end after it starts")

    def holds(self, instant: datetime) -> bool:
        """Whether the instant lies in the interval."""
        return self.start <= instant < self.end

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share any time."""
        return self.start < other.end and other.start < self.end


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals sorted, with overlapping or touching ones joined."""
    result: list[Interval] = []
    for interval in sorted(intervals):
        if result and interval.start <= result[-1].end:
            last = result[-1]
            result[-1] = Interval(last.start, max(last.end, interval.end))
        else:
            result.append(interval)
    return result


@dataclass(frozen=True)
class Availability:
    """The calendar's state at `at`: free or busy, until when, and the next free slot today."""

    at: datetime
    busy: bool
    until: datetime | None
    """When the current state ends (None: not before the end of the day looked at)."""
    next_free: Interval | None
    """The next free slot of at least MIN_SLOT within office hours later today, if any."""


def availability(
    at: datetime,
    busy: Sequence[Interval],
    day_end: datetime,
    office_hours: OfficeHours,
    *,
    min_slot: timedelta = MIN_SLOT,
) -> Availability:
    """Free or busy at `at`, until when (looked at up to `day_end`), and the next free slot."""
    if day_end <= at:
        raise ValueError("the end of the day must lie after the instant looked at")
    blocks = [b for b in merged(busy) if b.end > at and b.start < day_end]
    current = next((b for b in blocks if b.holds(at)), None)
    if current is not None:
        until: datetime | None = current.end if current.end < day_end else None
    else:
        later = [b.start for b in blocks if b.start > at]
        until = min(later) if later else None
    slot = next_free_slot(at, blocks, day_end, office_hours, min_slot)
    return Availability(at=at, busy=current is not None, until=until, next_free=slot)


def next_free_slot(
    at: datetime,
    busy: Sequence[Interval],
    day_end: datetime,
    office_hours: OfficeHours,
    min_slot: timedelta = MIN_SLOT,
) -> Interval | None:
    """The first span from `at` to `day_end`, open and free, of at least `min_slot`.

    Busy blocks are followed to the second; office hours are looked at minute by minute.
    """
    blocks = merged(busy)
    start: datetime | None = None
    instant = at
    while instant < day_end:
        block = next((b for b in blocks if b.holds(instant)), None)
        is_free = block is None and office_open(office_hours, instant)
        if is_free and start is None:
            start = instant
        elif not is_free and start is not None:
            if instant - start >= min_slot:
                return Interval(start, instant)
            start = None
        instant = block.end if block is not None else _next_look(instant, blocks, day_end)
    if start is not None and day_end - start >= min_slot:
        return Interval(start, day_end)
    return None


def _next_look(instant: datetime, blocks: Sequence[Interval], day_end: datetime) -> datetime:
    """The next whole minute, the next busy block's start or the day's end, whichever first."""
    minute = instant.replace(second=0, microsecond=0) + STEP
    starts = [b.start for b in blocks if b.start > instant]
    return min([minute, day_end, *starts])
