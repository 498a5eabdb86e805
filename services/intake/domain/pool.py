"""The bureau's pool of numbers: which number may be given out, and when again after a client.

A number the telephony partner provides is added to the pool; a client reserves one; when the
client gives it back it rests in quarantine (callers of the old client may still dial it), and
only after that is it offered to another client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

PoolState = Literal["free", "reserved", "quarantined"]
DEFAULT_QUARANTINE = timedelta(days=90)
"""How long a released number rests before it is offered again, unless the settings say."""

OFFERABLE_SQL = "client_id IS NULL AND (quarantine_until IS NULL OR quarantine_until <= $1)"
"""`offerable` as a filter of the `number_pool` read table ($1: the instant); the same rule."""


@dataclass(frozen=True)
class PoolNumber:
    """A number of the pool: when it came in and until when it rests after its last client."""

    number: str
    added_at: datetime
    quarantine_until: datetime | None = None


def in_quarantine(quarantine_until: datetime | None, at: datetime) -> bool:
    """Whether a released number still rests at `at`."""
    return quarantine_until is not None and at < quarantine_until


def offerable(holder: UUID | None, quarantine_until: datetime | None, at: datetime) -> bool:
    """Whether the number may be given to a client at `at`: nobody holds it, it rests no more."""
    return holder is None and not in_quarantine(quarantine_until, at)


def pool_state(holder: UUID | None, quarantine_until: datetime | None, at: datetime) -> PoolState:
    """What the number is at `at`: reserved by a client, resting, or free to give out."""
    if holder is not None:
        return "reserved"
    return "quarantined" if in_quarantine(quarantine_until, at) else "free"


def quarantine_end(released_at: datetime, quarantine: timedelta) -> datetime:
    """Until when a number released at `released_at` rests."""
    return released_at + quarantine
