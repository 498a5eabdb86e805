"""An overdue mail's escalation in-process on a rolled-back PostgreSQL transaction: its signed
links acknowledge as a call's do, the desk's later answer then changes nothing, and a replay
of the inbox topic opens nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from libs.events import Actor, Event
from libs.events.inbox import ConversationEscalated, ConversationMarkedSpam
from libs.platform.consumer import HandlerContext
from services.routing import commands, directory, escalations, links, reactions
from services.routing.domain.escalation import Acknowledge, mail_escalation_id
from services.routing.settings import RoutingSettings
from tests.support.builders import book_revised, contacts, leak_rule, registered
from tests.support.rollback import RolledBackStore

pytestmark = [pytest.mark.infra]

T0 = datetime(2026, 1, 6, 13, 0, tzinfo=UTC)  # a Tuesday, 14:00 in Amsterdam
CONFIG = RoutingSettings(ack_link_ttl_hours=1)
CONVERSATION = UUID("01890a5d-ac96-774b-bcce-b302099a8081")


async def seeded(store: RolledBackStore) -> UUID:
    """A client whose book has a leak rule only (no mail_overdue) and three contacts."""
    signed_up = registered(at=T0 - timedelta(days=1))
    book = book_revised(
        signed_up.client_id, at=signed_up.occurred_at, urgency_rules=(leak_rule(),),
        escalation_contacts=contacts(3),
    )  # fmt: skip
    await directory.client_registered(signed_up, store.conn, store.schema)
    await directory.book_revised(book, store.conn, store.schema)
    return signed_up.client_id


async def react(store: RolledBackStore, event: Event, *, replay: bool = False) -> None:
    """Hand an inbox event to routing's reaction, as the consumer would, at T0."""
    handler = reactions.inbox_handlers(CONFIG)[event.type]
    await handler(
        event, HandlerContext(conn=store.conn, store=store, now=lambda: T0, replay=replay)
    )


def overdue(client_id: UUID) -> ConversationEscalated:
    """The inbox says the conversation's answer is five minutes overdue."""
    return ConversationEscalated(
        client_id=client_id, occurred_at=T0, conversation_id=CONVERSATION,
        due_at=T0 - timedelta(minutes=5),
    )  # fmt: skip


async def own_events(store: RolledBackStore, escalation_id: UUID) -> list[str]:
    """The types of the escalation's own events."""
    stream = f"escalation-{escalation_id}"
    return [e.type for e in await escalations.history(store.conn, store.schema, stream)]


async def test_the_link_of_a_mail_escalation_acknowledges_and_the_desk_then_changes_nothing(
    store: RolledBackStore,
) -> None:
    client_id = await seeded(store)
    event = overdue(client_id)
    await react(store, event)
    escalation_id = mail_escalation_id(CONVERSATION, event.due_at)
    actor = Actor(kind="client", id="ack-link:1")
    command = Acknowledge(at=T0 + timedelta(minutes=2), by="", actor=actor, attempt=1)
    verdict, state = await commands.acknowledge_by_link(
        store, escalation_id, command, CONFIG.ack_link_ttl
    )
    assert (verdict, state.status, state.acknowledged_by) == ("open", "acknowledged", "Contact 0")
    await react(
        store,
        ConversationMarkedSpam(client_id=client_id, occurred_at=T0, conversation_id=CONVERSATION),
    )
    assert await own_events(store, escalation_id) == [
        "EscalationDispatched",
        "EscalationAcknowledged",
    ]


async def test_the_link_page_of_a_mail_escalation_shows_it(store: RolledBackStore) -> None:
    client_id = await seeded(store)
    event = overdue(client_id)
    await react(store, event)
    state = await escalations.load(
        store.conn, store.schema, mail_escalation_id(CONVERSATION, event.due_at)
    )
    assert state is not None
    facts = await directory.client_facts(store.conn, store.schema, client_id)
    html = links.render(links.page_of("open", 1, "1.token", state, facts))
    assert "mail_overdue" in html
    assert 'name="token"' in html


async def test_a_replay_of_the_inbox_topic_opens_nothing(store: RolledBackStore) -> None:
    client_id = await seeded(store)
    await react(store, overdue(client_id), replay=True)
    found = await store.conn.fetchval(f"SELECT count(*) FROM {store.schema}.escalations")
    assert found == 0
