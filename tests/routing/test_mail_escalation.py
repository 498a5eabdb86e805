"""Overdue mail escalates along the client's book, over a real routing process fed by the inbox.

The inbox's ConversationEscalated opens an escalation of the conversation (once per due
time); the chain runs on routing's private simulation clock; the desk's answer (a reply, the
conversation handled) acknowledges it and no further attempt is made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.events import (
    Actor,
    EscalationAcknowledged,
    EscalationDispatched,
    Event,
    UrgencyRule,
    new_id,
)
from libs.events.inbox import ConversationEscalated, ConversationHandled, ReplySent
from libs.events.routing import EscalationEvent
from services.routing.domain.chain import MAIL_OVERDUE
from services.routing.domain.escalation import mail_escalation_id
from tests.routing.conftest import (
    ROUTING_APP,
    ROUTING_ENV,
    clock,
    escalation,
    routing_events,
    timer_rounds,
    timers_ran,
)
from tests.support.builders import book_revised, contacts, leak_rule, registered
from tests.support.clock import amsterdam, private_clock, working_day
from tests.support.pipeline import metric_value, wait_until
from tests.support.stack import Infrastructure, Stack, get_when, private_world, running_stack

pytestmark = [pytest.mark.infra]

DAY = working_day(date.today())
START = amsterdam(DAY, 9)
TIMEOUT = timedelta(seconds=600)
OPERATOR = Actor(kind="operator", id="op-anna")


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A routing process fed by intake, calls and the inbox, on a clock of its own."""
    async with private_world(infra, tmp_path_factory.mktemp("mail-escalation")) as world:
        clock_dsn = await private_clock(infra.dsn, f"{world.prefix}_clock", START)
        env = {**ROUTING_ENV, "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn}
        feeds = ("intake", "calls", "inbox")
        async with running_stack(Stack, world, ROUTING_APP, feeds=feeds, env=env) as own:
            yield own


async def seed(stack: Stack, *rules: UrgencyRule) -> UUID:
    """A client whose book (v1) has a leak rule, `rules`, and three contacts with e-mail."""
    client = registered(at=START - timedelta(days=30))
    book = book_revised(
        client.client_id, at=START - timedelta(days=1),
        urgency_rules=(leak_rule(), *rules), escalation_contacts=contacts(),
    )  # fmt: skip
    await stack.append([client, book])

    async def known() -> bool:
        found = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.directory_books WHERE client_id = $1",
            client.client_id,
        )
        return bool(found)

    await wait_until(known, within=30, what="routing to learn the client's book")
    return client.client_id


async def overdue(stack: Stack, client_id: UUID, conversation_id: UUID, due: datetime) -> UUID:
    """The inbox escalates the conversation's overdue answer; the escalation's id."""
    at = await clock(stack)
    event = ConversationEscalated(
        client_id=client_id, occurred_at=at, conversation_id=conversation_id, due_at=due
    )
    await stack.stores["inbox"].append(f"conversation-{conversation_id}", None, [event])
    return mail_escalation_id(conversation_id, due)


async def answered(stack: Stack, event: Event, conversation_id: UUID) -> None:
    """The desk acted on the conversation."""
    await stack.stores["inbox"].append(f"conversation-{conversation_id}", None, [event])


async def acknowledged(stack: Stack, escalation_id: UUID) -> dict[str, Any]:
    """GET /escalations/{id} once it is acknowledged."""
    found: dict[str, Any] = await get_when(
        stack.http, f"/escalations/{escalation_id}",
        lambda body: body.get("state") == "acknowledged", what=f"{escalation_id} acknowledged",
    )  # fmt: skip
    return found


async def on_kafka(stack: Stack, escalation_id: UUID, count: int) -> list[EscalationEvent]:
    """The escalation's events on the routing topic, once `count` of them are there."""
    found: list[EscalationEvent] = []

    async def published() -> bool:
        found[:] = [
            e
            for e in await routing_events(stack)
            if isinstance(e, EscalationEvent) and e.escalation_id == escalation_id
        ]
        return len(found) >= count

    await wait_until(published, within=30, what=f"{count} events of {escalation_id} on Kafka")
    return found


async def test_an_overdue_mail_mails_each_contact_in_turn_until_the_reply_stops_it(
    stack: Stack,
) -> None:
    client_id, conversation_id = await seed(stack), new_id()
    requested = metric_value(stack.url, "frontdesk_escalations_total", subject="mail")
    escalation_id = await overdue(stack, client_id, conversation_id, START - timedelta(minutes=5))
    first = await escalation(stack, escalation_id, attempts=1)
    assert (first["conversation_id"], first["call_id"]) == (str(conversation_id), None)
    assert first["urgency_kind"] == MAIL_OVERDUE
    assert [(a["channel"], a["target"]) for a in first["attempts"]] == [("email", "c0@bakker.nl")]
    due = datetime.fromisoformat(first["ack_due_at"])
    assert due == await clock(stack) + TIMEOUT

    await clock(stack, set_to=due.isoformat())
    second = await escalation(stack, escalation_id, attempts=2)
    assert [a["target"] for a in second["attempts"]] == ["c0@bakker.nl", "c1@bakker.nl"]
    reply = ReplySent(
        client_id=client_id, occurred_at=due + timedelta(minutes=1), actor=OPERATOR,
        conversation_id=conversation_id, message_id="<r1@frontdesk>", in_reply_to="<m1@x>",
        to="klant@example.com", subject="Re: Lekkage", text="We komen morgen.",
    )  # fmt: skip
    await answered(stack, reply, conversation_id)
    done = await acknowledged(stack, escalation_id)
    assert (done["acknowledged_by"], done["ack_due_at"]) == ("desk", None)

    rounds = timer_rounds(stack)
    await clock(stack, set_to=(due + 3 * TIMEOUT).isoformat())
    await timers_ran(stack, since=rounds)
    after = (await stack.http.get(f"/escalations/{escalation_id}")).json()
    assert (len(after["attempts"]), after["state"]) == (2, "acknowledged")
    events = await on_kafka(stack, escalation_id, 3)
    assert [e.type for e in events] == [
        "EscalationDispatched",
        "EscalationDispatched",
        "EscalationAcknowledged",
    ]
    assert {(e.conversation_id, e.call_id) for e in events} == {(conversation_id, None)}
    [ack] = [e for e in events if isinstance(e, EscalationAcknowledged)]
    assert (ack.by, ack.actor) == ("desk", OPERATOR)
    assert all(isinstance(e, EscalationDispatched) and e.ack_url for e in events[:2])
    assert metric_value(stack.url, "frontdesk_escalations_total", subject="mail") >= requested + 2


async def test_the_books_mail_overdue_rule_is_followed_and_one_wait_escalates_once(
    stack: Stack,
) -> None:
    rule = UrgencyRule(
        kind=MAIL_OVERDUE, description="Mail", channels=("sms",), ack_timeout_seconds=120
    )
    client_id, conversation_id = await seed(stack, rule), new_id()
    due = (await clock(stack)) - timedelta(minutes=1)
    escalation_id = await overdue(stack, client_id, conversation_id, due)
    first = await escalation(stack, escalation_id, attempts=1)
    assert [(a["channel"], a["target"]) for a in first["attempts"]] == [("sms", "+31610000000")]
    assert await overdue(stack, client_id, conversation_id, due) == escalation_id  # again
    handled = ConversationHandled(
        client_id=client_id, occurred_at=await clock(stack), actor=OPERATOR,
        conversation_id=conversation_id,
    )  # fmt: skip
    await answered(stack, handled, conversation_id)
    await acknowledged(stack, escalation_id)
    count = await stack.pool.fetchval(
        f"SELECT count(*) FROM {stack.schema}.escalations WHERE conversation_id = $1",
        conversation_id,
    )
    assert count == 1
    dispatched = [
        e for e in await on_kafka(stack, escalation_id, 2) if isinstance(e, EscalationDispatched)
    ]
    assert len(dispatched) == 1
