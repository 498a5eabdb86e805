"""A real Radicale for the calendar tests: started once per session, a fresh calendar per test.

The calendar is made through the caldav library, as a client's calendar app would; the test
gets its URL and an open client of the library to look at (or plant) the raw iCalendar data.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from caldav import aio
from caldav.lib import error

from tests.support.radicale import PASSWORD, USER, Radicale


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    """The session's Radicale (htpasswd logins), started on first use, once."""
    server = Radicale(tmp_path_factory.mktemp("radicale"))
    server.start()
    yield server
    server.stop()


@dataclass
class FreshCalendar:
    """A calendar of its own for one test, and the library's view of it."""

    server: Radicale
    name: str
    url: str
    raw: aio.Calendar

    async def plant(self, ics: str) -> None:
        """Store an event as some other calendar app would have written it."""
        await self.raw.add_event(ics, increase_seqno=False)

    async def stored(self, uid: str) -> Any:
        """The VEVENT with this UID as it is on the server (icalendar component)."""
        resource = await self.raw.get_event_by_uid(uid)
        return resource.icalendar_component

    async def count(self) -> int:
        """How many calendar objects the calendar holds."""
        return len(await self.raw.get_events())


@pytest.fixture
async def calendar(radicale: Radicale) -> AsyncIterator[FreshCalendar]:
    """A new, empty calendar with a unique name in the test user's account."""
    name = f"Test {uuid4().hex[:12]}"
    async with aio.AsyncDAVClient(
        url=radicale.url, username=USER, password=PASSWORD, timeout=10, require_tls=False
    ) as client:
        principal = await client.get_principal()
        raw = await principal.make_calendar(name=name)
        yield FreshCalendar(radicale, name, str(raw.url), raw)
        with contextlib.suppress(error.NotFoundError):  # a test may have deleted it
            await raw.delete()
