"""The operators' feed across the process boundary: a real routing process fed through Kafka by
the inbox's, the calendar's, intake's and calls' stores, signed in against the session's
Keycloak, read by an httpx streaming client as a browser's EventSource would.

The feed's fallback poll is set to a minute here, so an item that arrives while a stream is
open came through LISTEN/NOTIFY; its keep-alive to a second, so quiet streams show one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from libs.devstack.keycloak import REALM
from libs.events import Event, OfficeHours
from libs.events.calendar import CallbackAssigned
from libs.events.envelope import Service
from libs.events.inbox import ConversationAssigned
from tests.conftest import Infrastructure
from tests.routing.conftest import ROUTING_APP
from tests.support.access import issued_key
from tests.support.builders import call_received, registered
from tests.support.clock import amsterdam, private_clock, working_day
from tests.support.keycloak import Keycloak
from tests.support.pipeline import wait_until
from tests.support.stack import Stack, private_world, running_stack

pytestmark = [pytest.mark.infra, pytest.mark.slow]

OTHER = "op-other"
STREAMS = "frontdesk_feed_streams"


@dataclass
class Feed:
    """One open feed, read in the background: its events (id, event, data) in a queue, and
    its keep-alive comments counted, as they come."""

    lines: AsyncIterator[str]
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    keep_alives: int = 0
    retry: str | None = None
    pending: dict[str, str] = field(default_factory=dict)

    async def read(self) -> None:
        """Parse the stream until it ends (or the reader is cancelled)."""
        async for line in self.lines:
            event = self._line(line)
            if event is not None:
                await self.events.put(event)

    async def next_event(self, within: float = 20) -> dict[str, Any]:
        """The next event; TimeoutError if none comes in time."""
        return await asyncio.wait_for(self.events.get(), within)

    async def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Every event that comes within `seconds` (none expected of a caught-up feed)."""
        await asyncio.sleep(seconds)
        found = []
        while not self.events.empty():
            found.append(self.events.get_nowait())
        return found

    def _line(self, line: str) -> dict[str, Any] | None:
        if line.startswith(":"):
            self.keep_alives += 1
            return None
        if line:
            name, _, value = line.partition(": ")
            self.pending[name] = value
            return None
        block, self.pending = self.pending, {}
        if "retry" in block:
            self.retry = block.pop("retry")
        if "event" not in block:
            return None
        return {"id": int(block["id"]), "event": block["event"], "data": json.loads(block["data"])}


@dataclass
class FeedWorld:
    """The routing process, its feeding stores, a client, operator-1's id and credentials."""

    stack: Stack
    client_id: UUID
    operator_id: str
    tokens: dict[str, str]
    api_key: str
    office_time: datetime

    def headers(self, caller: str) -> dict[str, str]:
        """The credential a caller sends: a Keycloak token, or the client's API key."""
        if caller == "api_key":
            return {"X-Api-Key": self.api_key}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    @asynccontextmanager
    async def follow(
        self, caller: str = "operator-1", last_event_id: int | None = None
    ) -> AsyncIterator[Feed]:
        """Open operator-1's feed as `caller`; closing it drops the connection."""
        headers = self.headers(caller)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        url = f"{self.stack.url}/operators/{self.operator_id}/feed"
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30)) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            feed = Feed(response.aiter_lines())
            reader = asyncio.create_task(feed.read())
            try:
                yield feed
            finally:
                reader.cancel()
                with suppress(asyncio.CancelledError):
                    await reader

    async def assign(self, operator_id: str) -> UUID:
        """A mail conversation the inbox gives to an operator."""
        conversation_id = uuid4()
        await self.stack.append(
            [ConversationAssigned(**self.envelope(), conversation_id=conversation_id,
                                  operator_id=operator_id)]
        )  # fmt: skip
        return conversation_id

    async def callback(self, operator_id: str) -> UUID:
        """A callback the calendar gives to an operator."""
        callback_id = uuid4()
        event = CallbackAssigned(
            **self.envelope(), callback_id=callback_id, call_id=uuid4(), operator_id=operator_id
        )
        await self.stack.stores["calendar"].append(f"callback-{callback_id}", 0, [event])
        return callback_id

    async def call(self) -> UUID:
        """A call to the client in its office hours, which routing gives to the one available
        operator."""
        event = call_received(self.client_id, self.office_time)
        await self.stack.stores["calls"].append(f"call-{event.call_id}", 0, [event])
        return event.call_id

    def envelope(self) -> dict[str, Any]:
        """The envelope of the client's events, now."""
        return {"client_id": self.client_id, "occurred_at": datetime.now(UTC)}

    async def items_after(self, seq: int, operator_id: str | None = None) -> list[int]:
        """The seqs routing has committed after `seq` (one operator's own, if given)."""
        rows = await self.stack.pool.fetch(
            f"SELECT seq FROM {self.stack.schema}.feed_items WHERE seq > $1 "
            "AND ($2::text IS NULL OR operator_id = $2) ORDER BY seq",
            seq,
            operator_id,
        )
        return [row["seq"] for row in rows]


def subject(item: dict[str, Any]) -> str:
    """What an item is about: its conversation, callback or call."""
    data = item["data"]
    return str(data.get("conversation_id") or data.get("callback_id") or data["call_id"])


@pytest.fixture(scope="module")
async def world(
    infra: Infrastructure, keycloak: Keycloak, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FeedWorld]:
    """Routing signing in against Keycloak; operator-1 available for Dutch calls."""
    home = tmp_path_factory.mktemp("feed")
    async with private_world(infra, home) as private:
        start = amsterdam(working_day(datetime.now(UTC).date()), 10)
        clock_dsn = await private_clock(infra.dsn, private.schema("clock"), start)
        env = {
            "FRONTDESK_CLOCK": "simulated",
            "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
            "FRONTDESK_AUTH_ISSUER": keycloak.issuer,
            "FRONTDESK_ROUTING_FEED_POLL_SECONDS": "60",
            "FRONTDESK_ROUTING_FEED_HEARTBEAT_SECONDS": "1",
        }
        feeds: tuple[Service, ...] = ("intake", "calls", "inbox", "calendar")
        async with running_stack(Stack, private, ROUTING_APP, feeds=feeds, env=env) as stack:
            yield await set_up(stack, keycloak, start)


async def set_up(stack: Stack, keycloak: Keycloak, office_time: datetime) -> FeedWorld:
    """A Dutch client with an API key; operator-1 and another operator on the roster."""
    async with keycloak.server.admin() as admin:
        operator_id = (await admin.user(REALM, "operator-1"))["id"]
    for who in (operator_id, OTHER):
        body = {"name": "Daan" if who == operator_id else "Other", "languages": ["nl"]}
        assert (await stack.http.put(f"/operators/{who}", json=body)).status_code == 200
    presence = {"presence": "available"}
    answer = await stack.http.put(f"/operators/{operator_id}/presence", json=presence)
    assert answer.status_code == 200, answer.text
    signed_up = registered(office_hours=OfficeHours(), at=datetime.now(UTC))
    issued, key = issued_key(signed_up.client_id, datetime.now(UTC))
    events: list[Event] = [signed_up, issued]
    await stack.append(events)
    tokens = {u: await keycloak.token(u) for u in ("operator-1", "operator-2", "client-a")}
    found = FeedWorld(stack, signed_up.client_id, operator_id, tokens, key, office_time)
    await _known(found)
    return found


async def _known(world: FeedWorld) -> None:
    async def learned() -> bool:
        schema = world.stack.schema
        client = await world.stack.pool.fetchval(
            f"SELECT count(*) FROM {schema}.directory_clients WHERE client_id = $1",
            world.client_id,
        )
        keys = await world.stack.pool.fetchval(f"SELECT count(*) FROM {schema}.api_keys")
        return bool(client and keys)

    await wait_until(learned, within=30, what="routing to learn the client and its key")


async def open_streams(world: FeedWorld, count: int) -> None:
    """Wait until the process counts this many open feeds (a closed one has let go)."""

    async def counted() -> bool:
        page = await world.stack.http.get("/metrics")
        [value] = [line.split()[1] for line in page.text.splitlines() if line.startswith(STREAMS)]
        return float(value) == count

    await wait_until(counted, within=30, what=f"{count} open feed streams")


async def test_a_dropped_feed_resumes_with_exactly_the_items_it_missed(world: FeedWorld) -> None:
    me = world.operator_id
    async with world.follow() as feed:
        ready = await feed.next_event()
        assert ready["event"] == "ready"
        assert feed.retry is not None
        mine = [await world.assign(me)]
        others = [await world.assign(OTHER)]
        mine.append(await world.callback(me))
        live = [await feed.next_event(), await feed.next_event()]
        await open_streams(world, 1)
    assert sorted(subject(item) for item in live) == sorted(map(str, mine))
    assert [item["event"] for item in sorted(live, key=lambda i: i["id"])] in (
        ["conversation", "callback"], ["callback", "conversation"],
    )  # fmt: skip
    assert all(item["id"] > ready["id"] for item in live)
    assert [i["id"] for i in live] == sorted(i["id"] for i in live)
    await open_streams(world, 0)

    last = live[-1]["id"]
    missed = [await world.assign(me), await world.assign(OTHER), await world.call()]
    missed.append(await world.assign(me))
    others += [missed.pop(1)]

    async def all_committed() -> bool:
        committed = await world.items_after(last, me), await world.items_after(last, OTHER)
        return len(committed[0]) >= 3 and len(committed[1]) >= 1

    await wait_until(all_committed, within=30, what="the items produced while disconnected")
    expected = await world.items_after(last, me)
    assert len(expected) == 3
    async with world.follow(last_event_id=last) as feed:
        resumed = [await feed.next_event() for _ in expected]
        extra = await feed.quiet_for(2.5)
        assert feed.keep_alives >= 1, "a quiet feed says it is alive"
        newest = await world.assign(me)
        arrived = await feed.next_event(within=15)  # the poll is a minute: NOTIFY woke it
    assert [item["id"] for item in resumed] == expected, "every missed item, in order"
    assert {subject(item) for item in resumed} == set(map(str, missed))
    assert extra == [], "nothing repeated, nothing more"
    assert subject(arrived) == str(newest)
    call_item = next(item for item in resumed if item["event"] == "call")
    assert call_item["data"]["queue"] == "nl"
    seen = {subject(item) for item in [*live, *resumed, arrived]}
    assert seen.isdisjoint(map(str, others)), "another operator's items never appear"
    await open_streams(world, 0)


@pytest.mark.parametrize(
    ("caller", "status"), [("client-a", 403), ("api_key", 403), ("operator-2", 403)]
)
async def test_only_the_operator_and_staff_may_follow_the_feed(
    world: FeedWorld, caller: str, status: int
) -> None:
    url = f"{world.stack.url}/operators/{world.operator_id}/feed"
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.get(url, headers=world.headers(caller))
        assert refused.status_code == status, refused.text
        anonymous = await http.get(url)
        assert anonymous.status_code == 401
    staff = await world.stack.http.get(
        f"/operators/{world.operator_id}/feed", params={"once": "true", "after": "0"}
    )
    assert staff.status_code == 200
    assert "event: " in staff.text


async def test_a_resume_point_that_is_no_item_is_refused_and_opens_nothing(
    world: FeedWorld,
) -> None:
    url = f"{world.stack.url}/operators/{world.operator_id}/feed"
    async with httpx.AsyncClient(timeout=10) as http:
        for value in ("abc", "-1", "18446744073709551616", str(10**15)):
            answer = await http.get(
                url, headers={**world.headers("operator-1"), "Last-Event-ID": value}
            )
            assert answer.status_code == 422, f"{value}: {answer.text}"
    await open_streams(world, 0)
