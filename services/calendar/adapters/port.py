"""The one calendar port: what the calendar service needs of any provider's calendar.

Adapters: CalDAV (services/calendar/adapters/caldav_calendar.py: Nextcloud, iCloud,
Fastmail, Radicale ...) and, in a later step, Google Calendar API v3. Every method may raise
CalendarUnavailable (the server cannot be reached, refuses the credentials, or answers
nonsense); callers decide what a stale answer is worth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from libs.availability import Interval
from services.calendar.domain.appointments import Appointment


class CalendarUnavailable(Exception):
    """The client's calendar could not be read or written just now."""


@dataclass(frozen=True)
class Entry:
    """An entry of the calendar as it is there now (titles only where the client allows)."""

    uid: str
    when: Interval
    title: str
    busy: bool
    """False for an entry marked free (TRANSP:TRANSPARENT)."""


class CalendarPort(Protocol):
    """One client's calendar, as the permission the client gave allows."""

    async def entries(self, start: datetime, end: datetime) -> list[Entry]:
        """The entries overlapping [start, end), recurring ones expanded, by start."""
        ...

    async def busy(self, start: datetime, end: datetime, *, ignoring: str = "") -> list[Interval]:
        """The busy time in [start, end), without the entry whose UID is `ignoring`."""
        ...

    async def put(self, appointment: Appointment) -> None:
        """Write the appointment (create, or replace the entry with its UID)."""
        ...

    async def remove(self, uid: str) -> bool:
        """Delete the entry with this UID; False when there was none."""
        ...
