"""The button of an acknowledgement link, in-process on a rolled-back PostgreSQL transaction:
it acknowledges while its chain is open and it is young, and records nothing once it is dead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from libs.events import Actor, EscalationAcknowledged, EscalationRequested
from libs.platform.consumer import HandlerContext
from services.routing import commands, directory, escalations, reactions
from services.routing.domain.escalation import Acknowledge
from services.routing.settings import RoutingSettings
from services.routing.workers.timers import fire_due
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

T0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Amsterdam
TIMEOUT = timedelta(seconds=600)
CONFIG = RoutingSettings(ack_link_ttl_hours=1)


async def escalated(store: RolledBackStore, ack_timeout: timedelta = TIMEOUT) -> UUID:
    """A client whose leak rule reaches three contacts, and a call of it escalated at T0."""
    signed_up = registered(at=T0 - timedelta(days=1))
    rule = leak_rule(ack_timeout_seconds=int(ack_timeout.total_seconds()))
    book = book_revised(
        signed_up.client_id, at=signed_up.occurred_at, urgency_rules=(rule,),
        escalation_contacts=contacts(3),
    )  # fmt: skip
    await directory.client_registered(signed_up, store.conn, store.schema)
    await directory.book_revised(book, store.conn, store.schema)
    request = escalation_requested(call_received(signed_up.client_id, T0 - timedelta(minutes=2)))
    await react(store, request)
    return request.escalation_id


async def react(store: RolledBackStore, request: EscalationRequested) -> None:
    """Hand the request to routing's reaction, as the consumer would, at T0."""
    handler = reactions.calls_handlers(CONFIG)[request.type]
    await handler(request, HandlerContext(conn=store.conn, store=store, now=lambda: T0))


async def press(
    store: RolledBackStore, escalation_id: UUID, attempt: int, at: datetime
) -> tuple[str, str]:
    """Press the button of the link for `attempt` at `at`: the verdict and the chain's state."""
    actor = Actor(kind="client", id=f"ack-link:{attempt}")
    command = Acknowledge(at=at, by="", actor=actor, attempt=attempt)
    found, state = await commands.acknowledge_by_link(
        store, escalation_id, command, CONFIG.ack_link_ttl
    )
    return found, state.status


async def own_events(store: RolledBackStore, escalation_id: UUID) -> list[str]:
    """The types of the escalation's own events."""
    stream = f"escalation-{escalation_id}"
    return [e.type for e in await escalations.history(store.conn, store.schema, stream)]


async def test_the_button_acknowledges_once_and_names_the_contact_of_its_attempt(
    store: RolledBackStore,
) -> None:
    escalation_id = await escalated(store)
    assert await fire_due(store, T0 + TIMEOUT, limit=10, config=CONFIG) == 1
    assert await press(store, escalation_id, 1, T0 + TIMEOUT + timedelta(minutes=1)) == (
        "open",
        "acknowledged",
    )
    history = await escalations.history(store.conn, store.schema, f"escalation-{escalation_id}")
    acked = history[-1]
    assert isinstance(acked, EscalationAcknowledged)
    assert (acked.by, acked.contact_index) == ("Contact 0", 0)
    later = T0 + TIMEOUT + timedelta(minutes=2)
    assert await press(store, escalation_id, 2, later) == ("acknowledged", "acknowledged")
    assert await own_events(store, escalation_id) == [
        "EscalationDispatched",
        "EscalationDispatched",
        "EscalationAcknowledged",
    ]


async def test_an_expired_link_records_nothing_and_the_chain_goes_on(
    store: RolledBackStore,
) -> None:
    escalation_id = await escalated(store, ack_timeout=timedelta(hours=2))
    expired = T0 + CONFIG.ack_link_ttl
    assert await press(store, escalation_id, 1, expired) == ("expired", "dispatched")
    assert await own_events(store, escalation_id) == ["EscalationDispatched"]
    assert await press(store, escalation_id, 1, expired - timedelta(seconds=1)) == (
        "open",
        "acknowledged",
    )


async def test_a_link_of_an_exhausted_chain_or_of_an_attempt_never_made_records_nothing(
    store: RolledBackStore,
) -> None:
    escalation_id = await escalated(store)
    assert await press(store, escalation_id, 2, T0 + timedelta(minutes=1)) == (
        "invalid",
        "dispatched",
    )
    for n in (1, 2, 3):
        assert await fire_due(store, T0 + n * TIMEOUT, limit=10, config=CONFIG) == 1
    at = T0 + 3 * TIMEOUT + timedelta(minutes=1)
    assert await press(store, escalation_id, 1, at) == ("exhausted", "exhausted")
    assert (await own_events(store, escalation_id))[-1] == "EscalationExhausted"
