"""Overdue mail in the routing domain: its chain from the book, the fold that starts from the
inbox's ConversationEscalated, and the desk's answer that stops it (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from libs.events import (
    Actor,
    EscalationAcknowledged,
    EscalationContact,
    EscalationDispatched,
    EscalationExhausted,
    Event,
    UrgencyRule,
)
from libs.events.inbox import ConversationEscalated
from services.routing.domain.chain import (
    DEFAULT_ACK_TIMEOUT,
    MAIL_OVERDUE,
    Book,
    Chain,
    chain_for,
    mail_chain_for,
)
from services.routing.domain.escalation import (
    DESK,
    Command,
    DeskAnswered,
    Escalation,
    FireTimer,
    StartChain,
    chain_to_run,
    decide,
    fold,
    mail_escalation_id,
    opened,
)

CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CONVERSATION = UUID("01890a5d-ac96-774b-bcce-b302099a8081")
DUE = datetime(2026, 1, 6, 13, 0, tzinfo=UTC)
T0 = DUE + timedelta(minutes=1)
OPERATOR = Actor(kind="operator", id="op-anna")
CONTACTS = (
    EscalationContact(name="Jan", phone="+31611111111"),
    EscalationContact(name="Piet", phone="+31622222222", email="piet@bakker.nl"),
    EscalationContact(name="Kees", email="kees@bakker.nl", chat_webhook_url="https://chat.x/k"),
)
LEAK = UrgencyRule(kind="leak", description="Water leak", channels=("sms",))
OVERDUE_RULE = UrgencyRule(
    kind=MAIL_OVERDUE, description="Mail unanswered", channels=("transfer", "chat", "sms"),
    ack_timeout_seconds=300,
)  # fmt: skip
BOOK = Book(book_version=3, urgency_rules=(LEAK,), escalation_contacts=CONTACTS)
RULED = Book(book_version=4, urgency_rules=(LEAK, OVERDUE_RULE), escalation_contacts=CONTACTS)
OVERDUE = ConversationEscalated(
    client_id=CLIENT, occurred_at=T0, conversation_id=CONVERSATION, due_at=DUE
)


def when(given: list[Event], command: Command) -> list[Event]:
    """Decide a command on the escalation folded from `given`."""
    return decide(command, fold(given))


def run_chain(chain: Chain, until: int) -> list[Event]:
    """The overdue mail, the first dispatch, and `until - 1` timeouts as the worker fires them."""
    history: list[Event] = [OVERDUE, *when([OVERDUE], StartChain(at=T0, chain=chain))]
    for step in range(1, until):
        history += when(history, FireTimer(at=T0 + step * chain.ack_timeout, chain=chain))
    return history


def test_without_a_mail_overdue_rule_every_contact_with_an_email_is_mailed_in_turn() -> None:
    chain = mail_chain_for(BOOK)
    assert [(s.contact_index, s.channel, s.target) for s in chain.steps] == [
        (1, "email", "piet@bakker.nl"),
        (2, "email", "kees@bakker.nl"),
    ]
    assert (chain.ack_timeout, chain.book_version) == (DEFAULT_ACK_TIMEOUT, 3)


def test_the_books_mail_overdue_rule_is_followed_without_its_transfer_channel() -> None:
    chain = mail_chain_for(RULED)
    assert [(s.contact_index, s.channel, s.target) for s in chain.steps] == [
        (0, "sms", "+31611111111"),
        (1, "sms", "+31622222222"),
        (2, "chat", "https://chat.x/k"),
    ]
    assert (chain.ack_timeout, chain.book_version) == (timedelta(seconds=300), 4)


def test_no_book_or_no_contacts_give_an_empty_chain() -> None:
    assert mail_chain_for(None).steps == ()
    assert mail_chain_for(Book(1, (), ())).steps == ()


def test_a_mail_escalation_follows_the_mail_chain_and_a_call_its_urgency_rule() -> None:
    mail = opened(OVERDUE)
    assert chain_to_run(RULED, mail) == mail_chain_for(RULED)
    call = Escalation(UUID(int=1), UUID(int=2), CLIENT, UUID(int=3), UUID(int=4), "leak", 4, T0)
    assert chain_to_run(RULED, call) == chain_for(RULED, "leak")


def test_the_fold_starts_from_the_overdue_conversation() -> None:
    state = fold([OVERDUE])
    assert state is not None
    assert state.escalation_id == mail_escalation_id(CONVERSATION, DUE)
    assert (state.call_id, state.conversation_id, state.subject) == (None, CONVERSATION, "mail")
    assert (state.urgency_kind, state.book_version, state.status) == (
        MAIL_OVERDUE,
        None,
        "requested",
    )
    assert (state.request_id, state.requested_at, state.version) == (OVERDUE.event_id, T0, 0)


def test_one_wait_is_one_escalation_and_a_later_wait_is_another() -> None:
    assert mail_escalation_id(CONVERSATION, DUE) == mail_escalation_id(CONVERSATION, DUE)
    later = DUE + timedelta(days=1)
    assert mail_escalation_id(CONVERSATION, later) != mail_escalation_id(CONVERSATION, DUE)
    assert mail_escalation_id(UUID(int=5), DUE) != mail_escalation_id(CONVERSATION, DUE)
    in_amsterdam = DUE.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert mail_escalation_id(CONVERSATION, in_amsterdam) == mail_escalation_id(CONVERSATION, DUE)


def test_the_chain_of_a_mail_dispatches_about_the_conversation_then_is_exhausted() -> None:
    chain = mail_chain_for(BOOK)
    history = run_chain(chain, until=3)
    dispatched = [e for e in history if isinstance(e, EscalationDispatched)]
    assert [(d.attempt, d.target, d.ack_due_at) for d in dispatched] == [
        (1, "piet@bakker.nl", T0 + DEFAULT_ACK_TIMEOUT),
        (2, "kees@bakker.nl", T0 + 2 * DEFAULT_ACK_TIMEOUT),
    ]
    assert {(e.call_id, e.conversation_id) for e in dispatched} == {(None, CONVERSATION)}
    [exhausted] = history[3:]
    assert isinstance(exhausted, EscalationExhausted)
    assert (exhausted.conversation_id, exhausted.attempts) == (CONVERSATION, 2)
    assert {e.causation_id for e in history[1:]} == {OVERDUE.event_id}
    assert {e.correlation_id for e in history[1:]} == {OVERDUE.correlation_id}


def test_the_desks_answer_acknowledges_an_open_chain_and_nothing_follows() -> None:
    chain = mail_chain_for(BOOK)
    history = run_chain(chain, until=1)
    [acked] = when(history, DeskAnswered(at=T0 + timedelta(minutes=3), actor=OPERATOR))
    assert isinstance(acked, EscalationAcknowledged)
    assert (acked.by, acked.contact_index, acked.actor) == (DESK, None, OPERATOR)
    assert (acked.conversation_id, acked.call_id) == (CONVERSATION, None)
    history.append(acked)
    assert when(history, FireTimer(at=T0 + 5 * DEFAULT_ACK_TIMEOUT, chain=chain)) == []
    state = fold(history)
    assert state is not None
    assert (state.status, state.acknowledged_by, state.open) == ("acknowledged", DESK, False)


def test_the_desks_answer_changes_nothing_once_the_chain_has_ended() -> None:
    later = DeskAnswered(at=T0 + timedelta(hours=2))
    exhausted = run_chain(mail_chain_for(BOOK), until=3)
    assert when(exhausted, later) == []
    acked = [*exhausted[:2], *when(exhausted[:2], later)]
    assert when(acked, later) == []
    assert when([OVERDUE], later) != []  # requested, not yet dispatched: still open


def test_an_escalation_event_is_about_exactly_one_call_or_conversation() -> None:
    fields = {"client_id": CLIENT, "occurred_at": T0, "escalation_id": UUID(int=9), "by": "x"}
    with pytest.raises(ValidationError, match="exactly one"):
        EscalationAcknowledged(**fields)
    with pytest.raises(ValidationError, match="exactly one"):
        EscalationAcknowledged(**fields, call_id=UUID(int=1), conversation_id=CONVERSATION)
    assert EscalationAcknowledged(**fields, call_id=UUID(int=1)).conversation_id is None
