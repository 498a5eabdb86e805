"""The operators' feed as rules, without I/O: who an item is for, who may follow a feed, where a
resumed feed starts, and what each fact becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from libs.errors import Rejected
from libs.events import Actor
from libs.events.calendar import CallbackEscalated
from libs.events.inbox import ConversationAssigned
from libs.events.routing import (
    CallRouted,
    EscalationAcknowledged,
    EscalationDispatched,
    EscalationExhausted,
)
from services.routing.domain import feed
from services.routing.domain.feed import EVERYONE, Audience, Subject

AT = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
CLIENT = uuid4()


def test_an_item_reaches_its_operator_a_languages_speakers_or_everyone() -> None:
    mine = Audience(operator_id="op-anna")
    assert feed.reaches(mine, "op-anna", {"nl"})
    assert not feed.reaches(mine, "op-bob", {"nl"})
    german = Audience(language="de")
    assert feed.reaches(german, "op-bob", {"de", "en"})
    assert not feed.reaches(german, "op-anna", {"nl", "fr"})
    assert feed.reaches(EVERYONE, "op-anna", {"nl"})


def test_operators_follow_their_own_feed_staff_any_and_nobody_else_one() -> None:
    assert feed.may_follow(Actor(kind="operator", id="op-anna"), "op-anna")
    assert not feed.may_follow(Actor(kind="operator", id="op-anna"), "op-bob")
    assert feed.may_follow(Actor(kind="staff", id="eva"), "op-bob")
    assert not feed.may_follow(Actor(kind="client", id="op-anna"), "op-anna")
    assert not feed.may_follow(Actor(kind="telephony", id="op-anna"), "op-anna")


def test_the_header_wins_over_after_and_neither_means_the_head() -> None:
    assert feed.resume_point(None, None) is None
    assert feed.resume_point(None, 7) == 7
    assert feed.resume_point("12", 7) == 12
    assert feed.resume_point(" 0 ", None) == 0
    assert feed.resume_point(str(feed.MAX_CURSOR), None) == feed.MAX_CURSOR


@pytest.mark.parametrize("header", ["abc", "-1", "1.5", "", "1e3", "١٢", str(2**63), "9" * 40])
def test_a_last_event_id_that_names_no_item_is_refused(header: str) -> None:
    with pytest.raises(Rejected, match="Last-Event-ID"):
        feed.resume_point(header, None)


def test_a_call_routed_to_an_operator_is_theirs_and_voicemail_nobodys() -> None:
    call_id = uuid4()
    fields = {"client_id": CLIENT, "occurred_at": AT, "call_id": call_id, "office_open": True}
    to_anna = CallRouted(
        **fields, destination="operator", operator_id="op-anna", language="nl", queue="nl"
    )
    item = feed.routed(to_anna)
    assert item is not None
    assert (item.kind, item.audience, item.event_id) == ("call", mine(), to_anna.event_id)
    assert item.data == {
        "call_id": str(call_id), "client_id": str(CLIENT), "language": "nl", "queue": "nl",
        "routed_at": AT.isoformat(),
    }  # fmt: skip
    assert feed.routed(CallRouted(**fields, destination="voicemail", language="nl")) is None


def mine() -> Audience:
    """Anna's own items."""
    return Audience(operator_id="op-anna")


def test_overdue_callbacks_go_to_their_language_and_assignments_carry_the_due_time() -> None:
    due = AT + timedelta(hours=2)
    escalated = CallbackEscalated(
        client_id=CLIENT, occurred_at=AT, callback_id=uuid4(), call_id=uuid4(), overdue_since=AT
    )
    item = feed.callback_escalated(escalated, Subject(language="de", due_at=due))
    assert (item.kind, item.audience) == ("callback", Audience(language="de"))
    assert (item.data["state"], item.data["due_at"]) == ("escalated", due.isoformat())
    assigned = ConversationAssigned(
        client_id=CLIENT, occurred_at=AT, conversation_id=uuid4(), operator_id="op-anna"
    )
    mail = feed.conversation_assigned(assigned, Subject(language="fr", due_at=due))
    assert (mail.audience, mail.data["due_at"], mail.data["language"]) == (
        mine(), due.isoformat(), "fr",
    )  # fmt: skip


def test_an_escalation_follows_its_operator_and_an_exhausted_one_reaches_everyone() -> None:
    ids = {"client_id": CLIENT, "occurred_at": AT, "escalation_id": uuid4(), "call_id": uuid4()}
    dispatched = EscalationDispatched(
        **ids, attempt=1, contact_index=0, channel="sms", target="+31610000000", ack_due_at=AT
    )
    handled = Subject(language="nl", operator_id="op-anna")
    item = feed.escalation(dispatched, handled)
    assert item is not None
    assert (item.audience, item.data["state"], item.data["attempt"]) == (mine(), "dispatched", 1)
    acknowledged = feed.escalation(EscalationAcknowledged(**ids, by="Jan"), handled)
    assert acknowledged is not None
    assert acknowledged.data["state"] == "acknowledged"
    exhausted = feed.escalation(EscalationExhausted(**ids, attempts=3), handled)
    assert exhausted is not None
    assert (exhausted.audience, exhausted.data["attempts"]) == (EVERYONE, 3)
    assert feed.escalation(dispatched, Subject()) is None, "nobody had the call: no item"
    assert feed.escalation(EscalationExhausted(**ids, attempts=3), Subject()) is not None


def test_a_resume_point_before_what_was_pruned_has_lost_items_and_the_head_or_zero_none() -> None:
    assert feed.lost(4, pruned_through=5)
    assert feed.lost(1, pruned_through=900)
    assert not feed.lost(5, pruned_through=5), "it saw the last pruned item: nothing missed"
    assert not feed.lost(6, pruned_through=5)
    assert not feed.lost(0, pruned_through=5), "from the beginning: whatever is kept"
    assert not feed.lost(None, pruned_through=5), "at the head"
    assert not feed.lost(3, pruned_through=0), "nothing pruned yet"


def test_items_are_kept_for_the_retention_and_a_lost_client_is_told_how_to_recover() -> None:
    assert feed.kept_since(AT, timedelta(hours=72)) == AT - timedelta(days=3)
    detail = feed.lost_detail(41, 72)
    assert "41" in detail
    assert "72 hours" in detail
    assert "reload" in detail
    assert "without Last-Event-ID" in detail
