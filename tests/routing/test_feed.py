"""The operators' feed in-process: items written by routing's consumers and its own appends, on
a rolled-back PostgreSQL schema, and the feed route answering with what it holds (`once`).

In these tests nothing commits, so the deferred trigger that numbers items at commit is made
immediate for the test's transaction (`numbered`); one test commits for real, in a schema of
its own, to show that items are numbered in commit order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from libs.events import Event
from libs.events.calendar import CallbackAssigned, CallbackEscalated, CallbackScheduled
from libs.events.inbox import (
    ConversationAssigned,
    ConversationEscalated,
    ConversationOpened,
    MailReceived,
)
from libs.events.values import Language
from libs.platform.auth import Principal, principal
from libs.platform.consumer import HandlerContext
from libs.platform.db import migrate
from libs.platform.directory import client_registered
from libs.platform.http import event_store
from libs.platform.problems import install_problems
from libs.platform.settings import Settings
from libs.platform.store import PLUMBING_MIGRATIONS
from services.routing import api, commands, directory, feed, reactions
from services.routing.domain.feed import Audience, FeedItem
from services.routing.domain.operators import PutOperator, SetPresence
from services.routing.feed_stream import FeedHub, Follow, stream
from services.routing.migrations import MIGRATIONS
from services.routing.settings import RoutingSettings
from services.routing.workers.timers import fire_due
from tests.support.access import OPERATOR as ANNA
from tests.support.access import STAFF, client_user, operator_key
from tests.support.builders import (
    book_revised,
    call_received,
    contacts,
    escalation_requested,
    leak_rule,
    registered,
)
from tests.support.rollback import RolledBackStore

pytestmark = [pytest.mark.infra]
Http = tuple[httpx.AsyncClient, dict[str, Principal]]

T0 = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Amsterdam
CONFIG = RoutingSettings(book_wait_seconds=60)
SETTINGS = Settings(service="routing", database_url="postgresql://unused")
TIMEOUT = timedelta(seconds=600)


@pytest.fixture
async def numbered(store: RolledBackStore) -> RolledBackStore:
    """The rolled-back store, its feed items numbered as they are written."""
    await store.conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return store


def ctx(store: RolledBackStore, at: datetime = T0) -> HandlerContext:
    """A handler's context on the test's transaction, as the consumer gives it."""
    return HandlerContext(conn=store.conn, store=store, now=lambda: at)


async def consume(store: RolledBackStore, event: Event, at: datetime = T0) -> None:
    """Hand another service's event to routing's registered handler of its topic."""
    handlers = {
        **reactions.calls_handlers(CONFIG),
        **reactions.inbox_handlers(CONFIG),
        **feed.CALENDAR_HANDLERS,
    }
    await handlers[event.type](event, ctx(store, at))


async def client(store: RolledBackStore, language: Language = "nl") -> UUID:
    """A client routing learned from intake, whose book escalates leaks to three contacts."""
    signed_up = registered(at=T0 - timedelta(days=1), language=language)
    book = book_revised(
        signed_up.client_id, at=signed_up.occurred_at, urgency_rules=(leak_rule(),),
        escalation_contacts=contacts(3),
    )  # fmt: skip
    await client_registered(signed_up, store.conn, store.schema)
    await directory.book_revised(book, store.conn, store.schema)
    return signed_up.client_id


async def operator(
    store: RolledBackStore, operator_id: str, *languages: Language, available: bool = False
) -> None:
    """An operator on the roster (logged in if `available`)."""
    at = T0 - timedelta(hours=1)
    put = PutOperator(operator_id=operator_id, at=at, name=operator_id.title(), languages=languages)
    await commands.change_roster(store, put)
    if available:
        presence = SetPresence(operator_id=operator_id, at=at, presence="available")
        await commands.change_roster(store, presence)


async def items(store: RolledBackStore, operator_id: str, after: int = 0) -> list[dict[str, Any]]:
    """The operator's feed after a seq, as the stream reads it."""
    return await feed.items_after(store.conn, store.schema, operator_id, after, 1000)


async def all_items(store: RolledBackStore) -> list[asyncpg.Record]:
    """Every row of the feed table."""
    return await store.conn.fetch(f"SELECT * FROM {store.schema}.feed_items ORDER BY seq")


def conversation(client_id: UUID, language: Language = "nl") -> tuple[UUID, list[Event]]:
    """A conversation opened in `language` with one mail, due four hours later."""
    conversation_id = uuid4()
    talk = {"client_id": client_id, "occurred_at": T0, "conversation_id": conversation_id}
    mail = MailReceived(
        **talk, mail_id=uuid4(), message_id=f"{uuid4()}@example.nl", via="forward",
        sender="piet@example.nl", received_at=T0, due_at=T0 + timedelta(hours=4),
    )  # fmt: skip
    return conversation_id, [ConversationOpened(**talk, topic="Offerte", language=language), mail]


# Exactly once ------------------------------------------------------------------------------


async def test_an_assigned_conversation_handled_twice_gives_its_operator_one_item(
    numbered: RolledBackStore,
) -> None:
    store = numbered
    await operator(store, "op-anna", "nl")
    conversation_id, opened = conversation(await client(store))
    for event in opened:
        await consume(store, event)
    assigned = ConversationAssigned(
        client_id=opened[0].client_id, occurred_at=T0 + timedelta(minutes=5),
        conversation_id=conversation_id, operator_id="op-anna",
    )  # fmt: skip
    await consume(store, assigned)
    await consume(store, assigned)  # redelivered past the inbox (e.g. a replay): still one item
    [item] = await items(store, "op-anna")
    assert item["kind"] == "conversation"
    assert item["data"] == {
        "conversation_id": str(conversation_id), "client_id": str(assigned.client_id),
        "language": "nl", "due_at": (T0 + timedelta(hours=4)).isoformat(), "state": "assigned",
    }  # fmt: skip
    assert len(await all_items(store)) == 1


async def test_a_callback_assigned_twice_is_one_item_with_its_language_and_due_time(
    numbered: RolledBackStore,
) -> None:
    store = numbered
    await operator(store, "op-anna", "nl")
    await operator(store, "op-bob", "nl")
    client_id = await client(store)
    fields = {"client_id": client_id, "occurred_at": T0, "callback_id": uuid4(), "call_id": uuid4()}
    scheduled = CallbackScheduled(
        **fields, source="voicemail", language="nl", caller_number="+31612345678",
        due_at=T0 + timedelta(days=1),
    )  # fmt: skip
    assigned = CallbackAssigned(**fields, operator_id="op-anna")
    for event in (scheduled, assigned, assigned):
        await consume(store, event)
    [item] = await items(store, "op-anna")
    assert (item["kind"], item["data"]["callback_id"], item["data"]["state"]) == (
        "callback", str(fields["callback_id"]), "assigned",
    )  # fmt: skip
    assert item["data"]["due_at"] == (T0 + timedelta(days=1)).isoformat()
    assert await items(store, "op-bob") == [], "another operator's callback is not in Bob's feed"


async def test_a_routed_call_is_one_item_for_its_operator_however_often_it_is_received(
    numbered: RolledBackStore,
) -> None:
    store = numbered
    await operator(store, "op-anna", "nl", available=True)
    await operator(store, "op-bob", "nl")  # offline: gets no call
    call = call_received(await client(store), T0)
    await consume(store, call)
    await consume(store, call)
    [route] = await store.conn.fetch(f"SELECT * FROM {store.schema}.call_routes")
    [item] = await items(store, "op-anna")
    assert (item["kind"], item["data"]["call_id"], item["data"]["queue"]) == (
        "call", str(call.call_id), "nl",
    )  # fmt: skip
    assert [row["event_id"] for row in await all_items(store)] == [route["event_id"]]
    assert await items(store, "op-bob") == []
    routes = await store.conn.fetch(
        f"SELECT payload FROM {store.schema}.events WHERE event_type = 'CallRouted'"
    )
    assert len(routes) == 1


# Broadcasts: a language's operators, or everyone -------------------------------------------


async def test_an_overdue_mail_reaches_only_the_operators_who_read_its_language(
    numbered: RolledBackStore,
) -> None:
    store = numbered
    await operator(store, "op-anna", "nl")
    await operator(store, "op-dirk", "de", "en")
    await operator(store, "op-eva", "en", "de")
    client_id = await client(store, "nl")
    conversation_id, opened = conversation(client_id, "de")  # a German mail to a Dutch client
    for event in opened:
        await consume(store, event)
    overdue = ConversationEscalated(
        client_id=client_id, occurred_at=T0 + timedelta(hours=4), conversation_id=conversation_id,
        due_at=T0 + timedelta(hours=4),
    )  # fmt: skip
    await consume(store, overdue, T0 + timedelta(hours=4))
    await consume(store, overdue, T0 + timedelta(hours=4))
    [row] = await all_items(store)
    assert (row["operator_id"], row["language"], row["kind"]) == (None, "de", "conversation")
    for reader in ("op-dirk", "op-eva"):
        [item] = await items(store, reader)
        assert (item["data"]["state"], item["data"]["language"]) == ("escalated", "de")
    assert await items(store, "op-anna") == []


async def test_an_overdue_callback_of_unknown_language_takes_its_clients(
    numbered: RolledBackStore,
) -> None:
    store = numbered
    await operator(store, "op-anna", "nl")
    await operator(store, "op-fleur", "fr")
    client_id = await client(store, "fr")
    escalated = CallbackEscalated(
        client_id=client_id, occurred_at=T0, callback_id=uuid4(), call_id=uuid4(),
        overdue_since=T0 - timedelta(minutes=30),
    )  # fmt: skip
    await consume(store, escalated)
    [item] = await items(store, "op-fleur")
    assert item["data"]["overdue_since"] == (T0 - timedelta(minutes=30)).isoformat()
    assert await items(store, "op-anna") == []


async def test_an_escalation_follows_the_operator_of_the_call_and_its_end_reaches_everyone(
    numbered: RolledBackStore,
) -> None:
    store = numbered
    await operator(store, "op-anna", "nl", available=True)
    await operator(store, "op-dirk", "de")
    call = call_received(await client(store), T0 - timedelta(minutes=2))
    await consume(store, call, T0 - timedelta(minutes=2))
    await consume(store, escalation_requested(call, T0))
    for step in (1, 2, 3):
        await fire_due(store, T0 + step * TIMEOUT, limit=50, config=CONFIG)
    anna = await items(store, "op-anna")
    assert [(i["kind"], i["data"].get("state")) for i in anna] == [
        ("call", None),
        ("escalation", "dispatched"),
        ("escalation", "dispatched"),
        ("escalation", "dispatched"),
        ("escalation", "exhausted"),
    ]
    assert [i["data"]["attempt"] for i in anna[1:4]] == [1, 2, 3]
    [exhausted] = await items(store, "op-dirk")
    assert exhausted == anna[-1], "the desk as a whole sees a chain nobody acknowledged"
    assert [i["seq"] for i in anna] == sorted(i["seq"] for i in anna)


# Numbering in commit order -----------------------------------------------------------------


async def test_items_are_numbered_in_the_order_their_transactions_commit(
    db: asyncpg.Pool,
) -> None:
    schema = f"t{uuid4().hex[:10]}_feedorder"
    async with db.acquire() as conn:
        await migrate(conn, schema, (*PLUMBING_MIGRATIONS, *MIGRATIONS))
    try:
        slow, fast = await db.acquire(), await db.acquire()
        try:
            first = slow.transaction()
            await first.start()
            await feed.write(slow, schema, item("op-anna"))  # inserted first, committed last
            async with asyncio.timeout(10), fast.transaction():  # must not wait for `slow`
                await feed.write(fast, schema, item("op-anna"))
            await first.commit()
        finally:
            await db.release(slow)
            await db.release(fast)
        rows = await db.fetch(f"SELECT seq, item_id FROM {schema}.feed_items ORDER BY seq")
        assert [row["item_id"] for row in rows] == [2, 1], "the later insert committed first"
    finally:
        await db.execute(f"DROP SCHEMA {schema} CASCADE")


def item(operator_id: str) -> FeedItem:
    """An item for an operator, from a fact of its own."""
    return FeedItem(uuid4(), uuid4(), T0, "call", Audience(operator_id=operator_id), {"n": 1})


# The route ----------------------------------------------------------------------------------


def app_on(store: RolledBackStore, acting: dict[str, Principal]) -> FastAPI:
    """Routing's API on the store, as `acting["as"]`."""
    app = FastAPI()
    install_problems(app)
    app.include_router(api.router)
    app.state.service_settings = CONFIG
    app.state.feed_hub = FeedHub()
    app.state.runtime = SimpleNamespace(
        clock=SimpleNamespace(now=lambda: T0), settings=SETTINGS, require_store=lambda: store
    )
    app.dependency_overrides[event_store] = lambda: store
    app.dependency_overrides[principal] = lambda: acting["as"]
    return app


@pytest.fixture
async def http(numbered: RolledBackStore) -> AsyncIterator[Http]:
    """An HTTP client of the app in-process, and whom it acts as (staff at first)."""
    acting = {"as": STAFF}
    transport = httpx.ASGITransport(app=app_on(numbered, acting))
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client_:
        yield client_, acting


def events_of(body: str) -> list[dict[str, Any]]:
    """The server-sent events of a body: id, event and parsed data of each (comments left out)."""
    found = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "event" in fields:
            found.append({**fields, "data": json.loads(fields["data"])})
    return found


async def assigned_to(store: RolledBackStore, operator_id: str, n: int) -> list[UUID]:
    """`n` conversations of a new client, assigned to the operator one after the other."""
    client_id = await client(store)
    ids = []
    for _ in range(n):
        conversation_id = uuid4()
        await consume(
            store,
            ConversationAssigned(
                client_id=client_id, occurred_at=T0, conversation_id=conversation_id,
                operator_id=operator_id,
            ),
        )  # fmt: skip
        ids.append(conversation_id)
    return ids


async def test_the_route_sends_ready_at_the_head_then_resumes_after_the_last_event_id(
    numbered: RolledBackStore, http: Http
) -> None:
    client_, acting = http
    await operator(numbered, "op-anna", "nl")
    await operator(numbered, "op-bob", "nl")
    first = await assigned_to(numbered, "op-anna", 2)
    await assigned_to(numbered, "op-bob", 1)
    acting["as"] = ANNA
    fresh = await client_.get("/operators/op-anna/feed", params={"once": "true"})
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["content-type"].startswith("text/event-stream")
    assert fresh.headers["cache-control"] == "no-store"
    head = await feed.head(numbered.conn, numbered.schema)
    assert events_of(fresh.text) == [{"id": str(head), "event": "ready", "data": {"head": head}}]
    assert fresh.text.startswith("retry: ")
    backlog = await client_.get("/operators/op-anna/feed", params={"once": "true", "after": "0"})
    sent = events_of(backlog.text)
    assert [e["data"]["conversation_id"] for e in sent] == [str(c) for c in first]
    later = await assigned_to(numbered, "op-anna", 2)
    resumed = await client_.get(
        "/operators/op-anna/feed", params={"once": "true", "after": "0"},
        headers={"Last-Event-ID": sent[-1]["id"]},
    )  # fmt: skip
    again = events_of(resumed.text)
    assert [e["data"]["conversation_id"] for e in again] == [str(c) for c in later]
    assert [int(e["id"]) for e in again] == sorted(int(e["id"]) for e in again)
    assert all(int(e["id"]) > int(sent[-1]["id"]) for e in again)


async def test_an_operator_reads_only_their_own_feed_and_clients_none(
    numbered: RolledBackStore, http: Http
) -> None:
    client_, acting = http
    await operator(numbered, "op-anna", "nl")
    await operator(numbered, "op-bob", "nl")
    params = {"once": "true"}
    acting["as"] = ANNA
    assert (await client_.get("/operators/op-anna/feed", params=params)).status_code == 200
    other = await client_.get("/operators/op-bob/feed", params=params)
    assert other.status_code == 403, other.text
    acting["as"] = STAFF
    assert (await client_.get("/operators/op-bob/feed", params=params)).status_code == 200
    unknown = await client_.get("/operators/op-nobody/feed", params=params)
    assert unknown.status_code == 404
    for caller in (client_user(uuid4()), operator_key(uuid4())):
        acting["as"] = caller
        refused = await client_.get("/operators/op-anna/feed", params=params)
        assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Last-Event-ID": "abc"}, {}),
        ({"Last-Event-ID": "-1"}, {}),
        ({"Last-Event-ID": "99999999999999999999999"}, {}),
        ({"Last-Event-ID": "1000"}, {}),  # no such item yet
        ({}, {"after": "-1"}),
        ({}, {"after": "x"}),
        ({}, {"after": str(2**63)}),
        ({}, {"after": "5000"}),
        ({}, {"once": "maybe"}),
    ],
)
async def test_a_resume_point_that_names_no_item_is_a_422(
    numbered: RolledBackStore,
    http: Http,
    headers: dict[str, str],
    params: dict[str, str],
) -> None:
    client_, _ = http
    await operator(numbered, "op-anna", "nl")
    await assigned_to(numbered, "op-anna", 1)
    answer = await client_.get("/operators/op-anna/feed", params=params, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/json"), "a problem, no stream"
    assert answer.json()["detail"]


async def test_a_stream_that_ends_leaves_no_wake_up_behind(numbered: RolledBackStore) -> None:
    await operator(numbered, "op-anna", "nl")
    hub = FeedHub()
    follow = Follow(operator_id="op-anna", after=None, poll_seconds=0.05, heartbeat_seconds=0.1)
    chunks = stream(numbered.conn, numbered.schema, hub, follow)
    got = [await anext(chunks), await anext(chunks)]
    assert got[1].startswith(b"id: ")
    assert b"event: ready" in got[1]
    assert hub.streams == 1
    beat = await asyncio.wait_for(anext(chunks), timeout=5)
    assert beat == b": keep-alive\n\n"
    await chunks.aclose()  # the client went away
    assert hub.streams == 0
