"""Routing's service layer in-process: reactions, commands and timers on a real PostgreSQL
transaction that is rolled back after each test. No process, no Kafka, no sleeps: the clock is
whatever instant a test hands in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.errors import NotFound
from libs.events import (
    Actor,
    CallAnswered,
    CallReceived,
    EscalationAcknowledged,
    EscalationDispatched,
    EscalationExhausted,
    EscalationRequested,
    Event,
)
from libs.events.routing import (
    CallRouted,
    OperatorDetailsChanged,
    OperatorPresenceChanged,
    OperatorRegistered,
)
from libs.events.values import Language
from libs.platform.consumer import HandlerContext
from services.routing import commands, directory, escalations, reactions, read_model
from services.routing.domain.escalation import Acknowledge
from services.routing.domain.operators import PutOperator, SetPresence
from services.routing.domain.roster import operator_stream
from services.routing.settings import RoutingSettings
from services.routing.workers.timers import fire_due
from tests.support.builders import (
    book_revised,
    call_ended,
    call_received,
    contacts,
    escalation_requested,
    leak_rule,
    on_call,
    registered,
)
from tests.support.rollback import RolledBackStore

pytestmark = [pytest.mark.infra]

T0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Amsterdam
TIMEOUT = timedelta(seconds=600)
CONFIG = RoutingSettings(book_wait_seconds=60)


async def stream(store: RolledBackStore, stream_id: str) -> list[Event]:
    """The events of one stream, read in the test's transaction."""
    return await escalations.history(store.conn, store.schema, stream_id)


async def react(store: RolledBackStore, event: Event, at: datetime) -> None:
    """Hand a calls event to routing's registered reaction, as the consumer would."""
    handler = reactions.calls_handlers(CONFIG)[event.type]
    await handler(event, HandlerContext(conn=store.conn, store=store, now=lambda: at))


async def client(store: RolledBackStore, language: Language = "nl", **rule: Any) -> UUID:
    """A client routing has learned from intake, whose book v1 escalates leaks to three contacts."""
    signed_up = registered(at=T0 - timedelta(days=1), language=language)
    book = book_revised(
        signed_up.client_id, at=signed_up.occurred_at, urgency_rules=(leak_rule(**rule),),
        escalation_contacts=contacts(3),
    )  # fmt: skip
    await directory.client_registered(signed_up, store.conn, store.schema)
    await directory.book_revised(book, store.conn, store.schema)
    return signed_up.client_id


async def available(store: RolledBackStore, operator_id: str, *languages: Language) -> None:
    """Put an operator on the roster and log them in."""
    at = T0 - timedelta(hours=1)
    put = PutOperator(operator_id=operator_id, at=at, name=operator_id.title(), languages=languages)
    await commands.change_roster(store, put)
    await commands.change_roster(
        store, SetPresence(operator_id=operator_id, at=at, presence="available")
    )


async def operator_row(store: RolledBackStore, operator_id: str) -> dict[str, Any]:
    """The operator's row in the roster table."""
    row = await read_model.get_operator(store.conn, store.schema, operator_id)
    assert row is not None
    return row


def types(events: Iterable[Event]) -> list[str]:
    """The event types, in order."""
    return [event.type for event in events]


# Routing a received call ---------------------------------------------------------------------


async def routed(store: RolledBackStore, call: CallReceived) -> CallRouted:
    """The call's one CallRouted in routing's store."""
    [event] = await stream(store, read_model.route_stream(call.call_id))
    assert isinstance(event, CallRouted)
    return event


def presence_changes(history: Iterable[Event]) -> list[tuple[str, str]]:
    """(previous, presence) of each presence change in an operator's stream."""
    return [(e.previous, e.presence) for e in history if isinstance(e, OperatorPresenceChanged)]


async def test_a_call_goes_to_the_free_operator_who_speaks_the_callers_language(
    store: RolledBackStore,
) -> None:
    client_id = await client(store, "nl")
    await available(store, "op-dirk", "nl")
    await available(store, "op-emma", "en", "nl")
    call = call_received(client_id, T0, caller_language="en")
    await react(store, call, T0)
    event = await routed(store, call)
    assert (event.destination, event.operator_id, event.language, event.queue) == (
        "operator",
        "op-emma",
        "en",
        "en",
    )
    route = await read_model.get_route(store.conn, store.schema, call.call_id)
    assert route is not None
    assert (route["operator_id"], route["reason"]) == ("op-emma", "operator")
    emma = await operator_row(store, "op-emma")
    assert (emma["presence"], emma["current_call_id"], emma["presence_since"]) == (
        "busy",
        call.call_id,
        T0,
    )
    await react(store, call, T0)  # a redelivery routes nothing twice
    assert await routed(store, call) == event


async def test_the_end_of_the_call_frees_its_operator_and_their_stream_says_so(
    store: RolledBackStore,
) -> None:
    await available(store, "op-emma", "en")
    call = call_received(await client(store, "en"), T0)
    await react(store, call, T0)
    ended_at = T0 + timedelta(minutes=4)
    await react(store, call_ended(call, ended_at), ended_at)
    emma = await operator_row(store, "op-emma")
    assert (emma["presence"], emma["current_call_id"], emma["presence_since"]) == (
        "available",
        None,
        ended_at,
    )
    history = await stream(store, operator_stream("op-emma"))
    assert types(history[:1]) == ["OperatorRegistered"]
    assert presence_changes(history) == [
        ("offline", "available"),
        ("available", "busy"),
        ("busy", "available"),
    ]


async def test_a_call_in_the_clients_language_queue_when_the_callers_is_not_spoken(
    store: RolledBackStore,
) -> None:
    client_id = await client(store, "de")
    await available(store, "op-bernd", "de")
    first = call_received(client_id, T0, caller_language="fr")
    await react(store, first, T0)
    event = await routed(store, first)
    assert (event.operator_id, event.language, event.queue) == ("op-bernd", "de", "de")
    second = call_received(client_id, T0)
    await react(store, second, T0)
    queued = await routed(store, second)
    assert (queued.destination, queued.office_open, queued.queue) == ("voicemail", True, "de")


async def test_whoever_answers_is_busy_and_the_operator_routing_held_is_freed(
    store: RolledBackStore,
) -> None:
    client_id = await client(store, "nl")
    await available(store, "op-dirk", "nl")
    await available(store, "op-anna", "nl")
    call = call_received(client_id, T0)
    await react(store, call, T0)
    held = (await read_model.get_route(store.conn, store.schema, call.call_id) or {})["operator_id"]
    other = "op-anna" if held == "op-dirk" else "op-dirk"
    answered_at = T0 + timedelta(seconds=20)
    answered = CallAnswered(**on_call(call, answered_at), operator_id=other, language="nl")
    await react(store, answered, answered_at)
    assert (await operator_row(store, other))["current_call_id"] == call.call_id
    assert (await operator_row(store, held))["presence"] == "available"


async def test_a_call_staff_imported_is_not_routed_and_takes_no_operator(
    store: RolledBackStore,
) -> None:
    client_id = await client(store, "nl")
    await available(store, "op-dirk", "nl")
    imported = call_received(client_id, T0 - timedelta(days=30), imported=True)
    await react(store, imported, T0)
    assert await stream(store, read_model.route_stream(imported.call_id)) == []
    assert await read_model.get_route(store.conn, store.schema, imported.call_id) is None
    dirk = await operator_row(store, "op-dirk")
    assert (dirk["presence"], dirk["current_call_id"]) == ("available", None)
    live = call_received(client_id, T0)
    await react(store, live, T0)
    assert (await routed(store, live)).operator_id == "op-dirk", "the live call still is"


# The roster commands -------------------------------------------------------------------------


async def test_roster_commands_append_to_the_operators_stream_and_write_the_row_from_it(
    store: RolledBackStore,
) -> None:
    put = PutOperator(operator_id="op-anna", at=T0, name="Anna", languages=("nl", "en"))
    row = await commands.change_roster(store, put)
    assert row is not None
    assert (row["presence"], row["languages"], row["updated_at"]) == ("offline", ["en", "nl"], T0)
    assert await commands.change_roster(store, put) == row
    renamed = PutOperator(operator_id="op-anna", at=T0, name="Anna de Vries", languages=("nl",))
    await commands.change_roster(store, renamed)
    login = SetPresence(operator_id="op-anna", at=T0 + timedelta(minutes=1), presence="available")
    row = await commands.change_roster(store, login)
    assert row is not None
    assert (row["name"], row["presence"], row["presence_since"]) == (
        "Anna de Vries",
        "available",
        login.at,
    )
    again = SetPresence(operator_id="op-anna", at=T0 + timedelta(hours=1), presence="available")
    assert await commands.change_roster(store, again) == row
    history = await stream(store, operator_stream("op-anna"))
    assert [type(e) for e in history] == [
        OperatorRegistered,
        OperatorDetailsChanged,
        OperatorPresenceChanged,
    ]
    with pytest.raises(NotFound, match="no operator op-nobody"):
        await commands.change_roster(
            store, SetPresence(operator_id="op-nobody", at=T0, presence="available")
        )
    assert await read_model.get_operator(store.conn, store.schema, "op-nobody") is None


# Escalation timers ---------------------------------------------------------------------------


async def escalated(
    store: RolledBackStore, client_id: UUID, **fields: Any
) -> tuple[CallReceived, EscalationRequested]:
    """A call of the client, escalated under the leak rule at T0."""
    call = call_received(client_id, T0 - timedelta(minutes=2))
    request = escalation_requested(call, T0, **fields)
    await react(store, request, T0)
    return call, request


async def attempts(store: RolledBackStore, request: EscalationRequested) -> list[Event]:
    """The escalation's own events, in order."""
    return await stream(store, f"escalation-{request.escalation_id}")


async def fire(store: RolledBackStore, at: datetime) -> int:
    """One round of the timer worker at `at`."""
    return await fire_due(store, at, limit=50, config=CONFIG)


async def test_a_due_attempt_is_dispatched_and_after_the_last_contact_the_chain_is_exhausted(
    store: RolledBackStore,
) -> None:
    _, request = await escalated(store, await client(store))
    [first] = await attempts(store, request)
    assert isinstance(first, EscalationDispatched)
    assert (first.attempt, first.target, first.ack_due_at) == (1, "+31610000000", T0 + TIMEOUT)
    assert await fire(store, T0 + TIMEOUT - timedelta(seconds=1)) == 0
    assert await fire(store, T0 + TIMEOUT) == 1
    assert await fire(store, T0 + TIMEOUT) == 0, "a second tick at the same time fires nothing"
    assert await fire(store, T0 + 2 * TIMEOUT) == 1
    assert await fire(store, T0 + 3 * TIMEOUT) == 1
    history = await attempts(store, request)
    assert types(history) == [
        "EscalationDispatched",
        "EscalationDispatched",
        "EscalationDispatched",
        "EscalationExhausted",
    ]
    assert [e.contact_index for e in history if isinstance(e, EscalationDispatched)] == [0, 1, 2]
    exhausted = history[-1]
    assert isinstance(exhausted, EscalationExhausted)
    assert exhausted.attempts == 3
    assert await fire(store, T0 + 9 * TIMEOUT) == 0
    state = await escalations.load(store.conn, store.schema, request.escalation_id)
    assert state is not None
    assert (state.status, state.due_at) == ("exhausted", None)


async def test_an_acknowledged_chain_stops_and_a_link_names_the_contact_of_its_attempt(
    store: RolledBackStore,
) -> None:
    _, request = await escalated(store, await client(store))
    assert await fire(store, T0 + TIMEOUT) == 1
    by_link = Acknowledge(
        at=T0 + TIMEOUT + timedelta(seconds=30),
        by="",
        actor=Actor(kind="client", id="ack-link:2"),
        attempt=2,
    )
    state = await commands.acknowledge(store, request.escalation_id, by_link)
    assert (state.status, state.acknowledged_by) == ("acknowledged", "Contact 1")
    assert await fire(store, T0 + 5 * TIMEOUT) == 0
    history = await attempts(store, request)
    assert types(history) == [
        "EscalationDispatched",
        "EscalationDispatched",
        "EscalationAcknowledged",
    ]
    acked = history[-1]
    assert isinstance(acked, EscalationAcknowledged)
    assert acked.contact_index == 1


async def test_an_escalation_waits_for_its_book_version_then_follows_the_latest_known(
    store: RolledBackStore,
) -> None:
    _, request = await escalated(store, await client(store), book_version=2)
    assert await attempts(store, request) == [], "book v2 has not reached routing yet"
    wait = timedelta(seconds=CONFIG.book_wait_seconds)
    assert await fire(store, T0 + wait - timedelta(seconds=1)) == 0
    assert await fire(store, T0 + wait) == 1
    [first] = await attempts(store, request)
    assert isinstance(first, EscalationDispatched)
    assert (first.attempt, first.ack_due_at) == (1, T0 + wait + TIMEOUT)
