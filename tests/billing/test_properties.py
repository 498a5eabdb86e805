"""Properties of the billing fold, checked on generated histories of several clients."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events import (
    CallBillabilityRestored,
    CallMarkedNonBillable,
    CallReceived,
    EmailHandling,
    Event,
    FixedMonthlyPlan,
    PerCallPlan,
    Plan,
    PunchCardPlan,
    PunchCardToppedUp,
    new_id,
)
from libs.events.calls import NonBillableReason
from services.billing.domain.decisions import decide_calls
from services.billing.domain.documents import Draft, run_period
from services.billing.domain.ledger import fold
from tests.billing.history import at, call, marked, registered, reported, restored
from tests.support import builders

PERIOD = "2026-01"
REASONS: list[NonBillableReason] = [
    "wrong_number", "urgent_family_matter", "caller_follows_up_themselves", "cold_call",
    "incomplete_intake",
]  # fmt: skip
PLANS: list[tuple[Plan, EmailHandling]] = [
    (PerCallPlan(), EmailHandling()),
    (PerCallPlan(), EmailHandling(enabled=True, monthly_fee_cents=1999)),
    (PunchCardPlan(), EmailHandling()),
    (FixedMonthlyPlan(monthly_amount_cents=4999, included_calls=3), EmailHandling()),
]
call_scripts = st.tuples(
    st.integers(min_value=1, max_value=28),  # day of January
    st.booleans(),  # reported by e-mail
    st.sampled_from([None, *REASONS]),  # mark
    st.booleans(),  # mark reverted
)


@st.composite
def client_stream(draw: st.DrawFn) -> list[Event]:
    """One client's events in order: registration, top-ups, calls, reports and marks."""
    client = new_id()
    plan, email = draw(st.sampled_from(PLANS))
    free = draw(st.booleans())
    events: list[Event] = [registered(client, "2025-12-01T08:00:00", plan, email=email,
                                      cold_calls_free=free)]  # fmt: skip
    for amount in draw(st.lists(st.integers(min_value=1, max_value=900), max_size=2)):
        events.append(PunchCardToppedUp(client_id=client, occurred_at=at("2026-01-01T10:00:00"),
                                        top_up_id=new_id(), amount_cents=amount,
                                        balance_cents=0))  # fmt: skip
    for day, is_reported, reason, reverted in draw(st.lists(call_scripts, max_size=8)):
        received = call(client, f"2026-01-{day:02d}T09:00:00")
        events.append(received)
        if reason is not None:
            events.append(marked(received, reason, f"2026-01-{day:02d}T10:00:00"))
            if reverted:
                events.append(restored(received, f"2026-01-{day:02d}T11:00:00"))
        if is_reported:
            events.append(reported(client, [received], f"2026-01-{day:02d}T16:15:00"))
    return events


@st.composite
def interleaving(draw: st.DrawFn, streams: list[list[Event]]) -> list[Event]:
    """The streams merged in a random order that keeps each stream's own order."""
    cursors = [0] * len(streams)
    merged: list[Event] = []
    while any(c < len(s) for c, s in zip(cursors, streams, strict=True)):
        open_streams = [i for i, s in enumerate(streams) if cursors[i] < len(s)]
        pick = draw(st.sampled_from(open_streams))
        merged.append(streams[pick][cursors[pick]])
        cursors[pick] += 1
    return merged


def invoices(events: list[Event]) -> dict[UUID, Draft | None]:
    """The January invoice draft of every client."""
    return {client: run_period(facts, PERIOD).invoice for client, facts in fold(events).items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(client_stream(), min_size=2, max_size=4), st.data())
def test_any_interleaving_of_clients_gives_the_same_invoices(
    streams: list[list[Event]], data: st.DataObject
) -> None:
    in_sequence = [event for stream in streams for event in stream]
    shuffled = data.draw(interleaving(streams))
    assert invoices(shuffled) == invoices(in_sequence)


def _without_evidence(draft: Draft | None) -> object:
    if draft is None:
        return None
    lines = [line.model_copy(update={"event_ids": ()}) for line in draft.lines]
    return (lines, draft.subtotal_cents, draft.vat_cents, draft.total_cents)


@settings(max_examples=60, deadline=None)
@given(client_stream(), st.data())
def test_a_mark_then_its_reversal_changes_nothing(stream: list[Event], data: st.DataObject) -> None:
    standing: dict[object, str] = {}  # calls refuses a second mark: toggle unmarked calls only
    for event in stream:
        if isinstance(event, CallMarkedNonBillable | CallBillabilityRestored):
            standing[event.call_id] = event.type
    calls = [
        e for e in stream
        if isinstance(e, CallReceived) and standing.get(e.call_id) != "CallMarkedNonBillable"
    ]  # fmt: skip
    if not calls:
        return
    target = data.draw(st.sampled_from(calls))
    reason = data.draw(st.sampled_from(REASONS))
    toggled = [*stream, marked(target, reason, "2026-01-30T10:00:00"),
               restored(target, "2026-01-30T11:00:00")]  # fmt: skip
    before = invoices(stream)
    after = invoices(toggled)
    assert {k: _without_evidence(v) for k, v in after.items()} == {
        k: _without_evidence(v) for k, v in before.items()
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(client_stream(), min_size=1, max_size=3))
def test_totals_are_the_sum_of_the_lines_plus_vat_rounded_half_up(
    streams: list[list[Event]],
) -> None:
    for draft in invoices([e for s in streams for e in s]).values():
        if draft is None:
            continue
        subtotal = sum(line.amount_cents for line in draft.lines)
        vat = (Decimal(subtotal) * Decimal("0.21")).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert draft.subtotal_cents == subtotal
        assert draft.vat_cents == int(vat)
        assert draft.total_cents == subtotal + int(vat)
        assert all(line.amount_cents == line.quantity * line.unit_price_cents
                   for line in draft.lines)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    client_stream(),
    st.lists(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(2025, 11, 30)),
        min_size=1, max_size=5,
    ),
)  # fmt: skip
def test_a_call_before_the_terms_began_is_no_terms_and_never_invoiced(
    stream: list[Event], instants: list[datetime]
) -> None:
    client = stream[0].client_id
    early = [builders.call_received(client, instant.replace(tzinfo=UTC)) for instant in instants]
    events = [*stream, *early, reported(client, early, "2026-01-29T16:15:00")]
    facts = fold(events)[client]
    decisions = decide_calls(facts)
    assert {decisions[c.call_id].status for c in early} == {"no_terms"}
    draft = run_period(facts, PERIOD).invoice
    invoiced = {c for line in draft.lines for c in line.call_ids} if draft else set()
    assert invoiced.isdisjoint(c.call_id for c in early)
    assert draft == invoices(stream)[client]
