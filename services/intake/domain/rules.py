"""Which version, plan or instruction is in force at a given moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from libs.events import TemporaryInstruction
from services.intake.domain.state import BookRevision, PlanPeriod


def book_version_as_of(books: Sequence[BookRevision], instant: datetime) -> int | None:
    """The book version in force at `instant`: the latest written at or before it."""
    written = [b.version for b in books if b.revised_at <= instant]
    return max(written, default=None)


def plan_in_force(plans: Sequence[PlanPeriod], day: date) -> PlanPeriod | None:
    """The plan in force on a day; of two changes for the same day the later one counts."""
    started = [
        (p.effective_from, index) for index, p in enumerate(plans) if p.effective_from <= day
    ]
    if not started:
        return None
    return plans[max(started)[1]]


def instructions_in_force(
    instructions: Sequence[TemporaryInstruction], instant: datetime
) -> tuple[TemporaryInstruction, ...]:
    """The temporary instructions valid at `instant` (from inclusive, until exclusive)."""
    return tuple(i for i in instructions if i.valid_from <= instant < i.valid_until)
