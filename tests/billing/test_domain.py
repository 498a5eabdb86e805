"""Given these events, then this invoice: the billing rules on a scripted month, no I/O.

Amounts are in cents and computed by hand from the rules next to each case: EUR 2.00 per
billable call, EUR 1.00 with e-mail handling, EUR 45.00 setup fee on the first invoice, VAT
21% of the subtotal rounded half up. January 2026 has 31 days; Amsterdam is UTC+1 then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import pytest

from libs.errors import Conflict
from libs.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    CreditNoteIssued,
    EmailHandling,
    Event,
    FixedMonthlyPlan,
    InvoiceIssued,
    PerCallPlan,
    PunchCardPlan,
    new_id,
)
from libs.events.calls import MailEvidence, NonBillableReason
from services.billing.domain.decisions import decide_calls
from services.billing.domain.documents import run_period
from services.billing.domain.explain import explain
from services.billing.domain.issue import record_payment, top_up
from services.billing.domain.ledger import fold
from services.billing.domain.money import vat_cents
from services.billing.domain.replay import LoggedEvent, rebuild
from services.billing.domain.wallet import low_balance_warning
from services.billing.domain.what_if import what_if
from tests.billing.history import (
    STAFF,
    Numbers,
    at,
    buy_credit,
    call,
    issue_month,
    marked,
    plan_changed,
    registered,
    reported,
    restored,
)

A, B, C, D, E = (new_id() for _ in range(5))


@dataclass
class Month:
    """The scripted history, the calls by name and the documents issued so far."""

    history: list[Event] = field(default_factory=list)
    calls: dict[str, UUID] = field(default_factory=dict)
    numbers: Numbers = field(default_factory=Numbers)

    def add(self, *events: Event) -> None:
        self.history.extend(events)

    def invoice(self, client: UUID, period: str) -> InvoiceIssued:
        found = [
            e for e in self.history
            if isinstance(e, InvoiceIssued) and e.client_id == client and e.period == period
            and all(line.kind != "punch_card_credit" for line in e.lines)
        ]  # fmt: skip
        assert len(found) == 1, found
        return found[0]


def _client_a(m: Month) -> None:
    """Per call, EUR 2.00; cold calls free; one call of every non-billable reason."""
    m.add(registered(A, "2025-12-10T09:00:00", cold_calls_free=True))
    first_of_january = call(A, "2025-12-31T23:30:00")  # 00:30 on 1 January in Amsterdam
    m.add(first_of_january, reported(A, [first_of_january], "2026-01-01T16:15:00"))
    ordinary = [call(A, f"2026-01-0{day}T09:00:00") for day in (5, 6, 7, 8)]
    m.add(*ordinary, reported(A, ordinary, "2026-01-08T16:15:00"))
    m.calls.update(a1=ordinary[0].call_id)
    reasons: tuple[NonBillableReason, ...] = (
        "wrong_number", "urgent_family_matter", "caller_follows_up_themselves", "cold_call",
        "incomplete_intake",
    )  # fmt: skip
    unbilled = [call(A, "2026-01-12T09:00:00") for _ in reasons]
    marks = [marked(c, r, "2026-01-12T10:00:00") for c, r in zip(unbilled, reasons, strict=True)]
    m.add(*unbilled, *marks)
    m.add(reported(A, unbilled, "2026-01-12T16:15:00"))
    m.calls.update({r: c.call_id for c, r in zip(unbilled, reasons, strict=True)})
    reverted = call(A, "2026-01-13T09:00:00")
    m.add(reverted, marked(reverted, "wrong_number", "2026-01-13T10:00:00"))
    m.add(restored(reverted, "2026-01-14T10:00:00"), reported(A, [reverted], "2026-01-13T16:15:00"))
    never_reported = call(A, "2026-01-20T09:00:00")
    m.add(never_reported)
    m.calls.update(reverted=reverted.call_id, pending=never_reported.call_id)


def _client_b(m: Month) -> None:
    """Per call with e-mail handling (EUR 12.50 a month): EUR 1.00 per call."""
    email = EmailHandling(enabled=True, monthly_fee_cents=1250)
    m.add(registered(B, "2025-12-01T08:00:00", email=email))
    calls = [call(B, "2026-01-07T09:00:00") for _ in range(3)]
    m.add(*calls, reported(B, calls, "2026-01-07T09:05:00", kind="per_call"))


def _client_c(m: Month) -> None:
    """Punch card (warn below EUR 10.00): EUR 4.00 credit, then four calls."""
    m.add(registered(C, "2025-12-01T08:00:00", PunchCardPlan(low_balance_threshold_cents=1000)))
    m.add(*buy_credit(m.history, C, 400, "2026-01-02T10:00:00", m.numbers))
    for day in (5, 6, 7, 8):
        c = call(C, f"2026-01-0{day}T09:00:00")
        m.add(c, reported(C, [c], f"2026-01-0{day}T16:15:00"))
        m.calls[f"c{day - 4}"] = c.call_id


def _client_d(m: Month) -> None:
    """Fixed EUR 50.00 a month including 3 calls; setup fee waived."""
    plan = FixedMonthlyPlan(monthly_amount_cents=5000, included_calls=3)
    m.add(registered(D, "2026-01-01T08:00:00", plan, setup_fee_cents=0))
    for day in (5, 6, 7, 8, 9):
        c = call(D, f"2026-01-0{day}T09:00:00")
        m.add(c, reported(D, [c], f"2026-01-0{day}T16:15:00"))


def _client_e(m: Month) -> None:
    """Per call until 15 January, fixed EUR 50.00 incl. 10 calls from 16 January."""
    m.add(registered(E, "2025-12-01T08:00:00"))
    fixed = FixedMonthlyPlan(monthly_amount_cents=5000, included_calls=10)
    m.add(plan_changed(E, "2026-01-10T10:00:00", date(2026, 1, 16), fixed))
    calls = [call(E, "2026-01-10T11:00:00"), call(E, "2026-01-12T09:00:00"),
             call(E, "2026-01-15T23:30:00"), call(E, "2026-01-21T09:00:00")]  # fmt: skip
    m.add(*calls, reported(E, calls, "2026-01-21T16:15:00"))
    m.calls.update(e3=calls[2].call_id)


@pytest.fixture
def month() -> Month:
    """January 2026 for five clients; B's December was invoiced on 1 January."""
    m = Month()
    for script in (_client_a, _client_b, _client_c, _client_d, _client_e):
        script(m)
    m.add(*issue_month(m.history, "2025-12", "2026-01-01T06:00:00", m.numbers, clients=[B]))
    return m


def _totals(document: InvoiceIssued | CreditNoteIssued) -> tuple[int, int, int]:
    return document.subtotal_cents, document.vat_cents, document.total_cents


def test_a_call_left_out_on_the_callers_own_mail_names_that_mail() -> None:
    m = Month()
    m.add(registered(A, "2025-12-01T08:00:00"))
    c = call(A, "2026-01-07T09:00:00")
    mail = MailEvidence(
        conversation_id=new_id(), message_id="tekening-1@jansen.example",
        sender="piet@jansen.example", subject="Tekening badkamer",
        received_at=at("2026-01-07T11:20:00"),
    )  # fmt: skip
    mark = marked(c, "caller_follows_up_themselves", "2026-01-07T12:00:00")
    m.add(c, reported(A, [c], "2026-01-07T09:05:00"), mark.model_copy(update={"evidence": mail}))
    decision = decide_calls(fold(m.history)[A])[c.call_id]
    assert (decision.status, decision.evidence) == ("non_billable", mail)
    said = explain(decision)
    assert said.startswith("not billable: the caller e-mailed or called back themselves")
    for part in ("Tekening badkamer", "piet@jansen.example", "<tekening-1@jansen.example>",
                 "2026-01-07 11:20 UTC"):  # fmt: skip
        assert part in said, said

    m.add(restored(c, "2026-01-08T09:00:00"))  # reverted: billed, the mail no longer named
    decision = decide_calls(fold(m.history)[A])[c.call_id]
    assert decision.billable
    assert decision.evidence is None
    assert "piet@jansen.example" not in explain(decision)


def test_vat_is_21_percent_of_the_subtotal_rounded_half_up() -> None:
    assert vat_cents(1250) == 263  # 262.5 -> 263
    assert vat_cents(1249) == 262  # 262.29
    assert vat_cents(50) == 11  # 10.5 -> 11
    assert vat_cents(0) == 0


def test_per_call_client_with_every_non_billable_reason_and_the_setup_fee(month: Month) -> None:
    issued = issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers)
    month.add(*issued)
    invoice = month.invoice(A, "2026-01")
    # 6 billable calls (1 Jan 00:30, 5-8 Jan, the reverted mark) x 200 = 1200; setup 4500.
    assert _totals(invoice) == (5700, 1197, 6897)  # VAT 5700 * 0.21 = 1197
    kinds = {line.kind: (line.quantity, line.amount_cents) for line in invoice.lines}
    assert kinds == {"setup_fee": (1, 4500), "calls": (6, 1200)}
    decisions = decide_calls(fold(month.history)[A])
    for reason in ("wrong_number", "urgent_family_matter", "caller_follows_up_themselves",
                   "cold_call", "incomplete_intake"):  # fmt: skip
        decision = decisions[month.calls[reason]]
        assert (decision.status, decision.reason) == ("non_billable", reason)
    assert decisions[month.calls["reverted"]].billable
    assert (decisions[month.calls["pending"]].status, invoice.invoice_number) == (
        "pending", "2026-000003",
    )  # fmt: skip
    assert "not billable yet" in explain(decisions[month.calls["pending"]])


def test_e_mail_handling_halves_the_rate_and_the_setup_fee_is_billed_only_once(
    month: Month,
) -> None:
    december = month.invoice(B, "2025-12")
    assert _totals(december) == (5750, 1208, 6958)  # setup 4500 + fee 1250; 1207.5 -> 1208
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers))
    # 3 calls x 100 = 300 + e-mail handling 1250 = 1550; VAT 325.5 -> 326.
    assert _totals(month.invoice(B, "2026-01")) == (1550, 326, 1876)


def test_punch_card_draws_to_zero_then_bills_overage(month: Month) -> None:
    top_up_invoice = next(
        e for e in month.history if isinstance(e, InvoiceIssued) and e.client_id == C
    )
    # Credit 400 + setup fee 4500 (the first invoice) = 4900; VAT 1029.
    assert _totals(top_up_invoice) == (4900, 1029, 5929)
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers))
    invoice = month.invoice(C, "2026-01")
    # c1, c2 drawn (400 -> 200 -> 0); c3, c4 exceed the balance: 2 x 200 overage = 400.
    assert _totals(invoice) == (400, 84, 484)
    lines = {(line.kind, line.unit_price_cents): line.quantity for line in invoice.lines}
    assert lines == {("calls", 0): 2, ("extra_calls", 200): 2}
    decisions = decide_calls(fold(month.history)[C])
    settled = [decisions[month.calls[f"c{n}"]] for n in (1, 2, 3, 4)]
    assert [(d.settlement, d.balance_after_cents) for d in settled] == [
        ("drawn", 200), ("drawn", 0), ("overage", 0), ("overage", 0)
    ]  # fmt: skip
    warning = low_balance_warning(fold(month.history)[C], at("2026-01-09T00:00:00"))
    assert warning is not None
    assert (warning.balance_cents, warning.threshold_cents) == (0, 1000)
    month.add(warning)
    assert low_balance_warning(fold(month.history)[C], at("2026-01-10T00:00:00")) is None


def test_fixed_monthly_includes_calls_and_bills_the_extra_ones(month: Month) -> None:
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers))
    invoice = month.invoice(D, "2026-01")
    # Fixed 5000; 3 of 5 calls included; 2 extra x 200 = 400; no setup fee (waived).
    assert _totals(invoice) == (5400, 1134, 6534)


def test_a_mode_switch_mid_month_prorates_the_fixed_amount(month: Month) -> None:
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers))
    invoice = month.invoice(E, "2026-01")
    # 10 and 12 Jan per call: 2 x 200 = 400. 16-31 Jan fixed: 5000 * 16/31 = 2580.6 -> 2581,
    # 10 * 16/31 = 5.2 -> 5 calls included (the two calls after the switch). Setup 4500.
    assert _totals(invoice) == (7481, 1571, 9052)  # VAT 1571.01 -> 1571
    decisions = decide_calls(fold(month.history)[E])
    assert decisions[month.calls["e3"]].settlement == "included"  # 00:30 on 16 Jan locally


def test_late_mark_becomes_a_credit_note_and_a_late_report_a_line_next_month(
    month: Month,
) -> None:
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers))
    january = month.invoice(A, "2026-01")
    pending = next(
        e for e in month.history if getattr(e, "call_id", None) == month.calls["pending"]
    )
    a1 = next(e for e in month.history if getattr(e, "call_id", None) == month.calls["a1"])
    february_call = call(A, "2026-01-31T23:30:00")  # 00:30 on 1 February in Amsterdam
    month.add(february_call, reported(A, [february_call], "2026-02-01T16:15:00"))
    month.add(marked(a1, "wrong_number", "2026-02-02T10:00:00"))  # type: ignore[arg-type]
    month.add(reported(A, [pending], "2026-02-03T16:15:00"))  # type: ignore[list-item]
    issued = issue_month(month.history, "2026-02", "2026-03-01T06:00:00", month.numbers, [A])
    credit, invoice = issued
    assert isinstance(credit, CreditNoteIssued)
    assert isinstance(invoice, InvoiceIssued)
    # The late mark: a1's 200 credited against January; VAT 42.
    assert (credit.original_invoice_id, _totals(credit)) == (january.invoice_id, (200, 42, 242))
    assert credit.lines[0].call_ids == (month.calls["a1"],)
    # February: its own call 200 + January's late-reported call 200 = 400; VAT 84.
    assert _totals(invoice) == (400, 84, 484)
    late = next(line for line in invoice.lines if line.period == "2026-01")
    assert (late.kind, late.call_ids, late.corrects_invoice_id) == (
        "correction", (month.calls["pending"],), january.invoice_id,
    )  # fmt: skip
    assert "2026-01" in late.description
    assert january.invoice_number in late.description
    month.add(*issued)
    again = issue_month(month.history, "2026-03", "2026-04-01T06:00:00", month.numbers, [A])
    assert again == []  # every correction was made once


def test_what_if_e_mail_handling_halves_the_month(month: Month) -> None:
    client = fold(month.history)[A]
    result = what_if(client, "2026-01", PerCallPlan(), EmailHandling(enabled=True))
    assert result.actual is not None
    assert result.hypothetical is not None
    # 6 calls: 1200 (VAT 252) at EUR 2.00 against 600 (VAT 126) at EUR 1.00.
    assert (result.actual.total_cents, result.hypothetical.total_cents) == (1452, 726)
    assert result.difference_cents == -726


def test_only_punch_card_clients_buy_credit_and_payments_stop_at_the_total(month: Month) -> None:
    ledger = fold(month.history)
    with pytest.raises(Conflict):
        top_up(ledger[A], 1000, top_up_id=new_id(), at=at("2026-01-09T00:00:00"), actor=STAFF)
    december = month.invoice(B, "2025-12")
    with pytest.raises(Conflict):
        record_payment(ledger[B], december.invoice_id, 6959, payment_id=new_id(),
                       paid_at=at("2026-01-05T00:00:00"), reference="",
                       at=at("2026-01-05T00:00:00"), actor=STAFF)  # fmt: skip
    paid = record_payment(ledger[B], december.invoice_id, 6958, payment_id=new_id(),
                          paid_at=at("2026-01-05T00:00:00"), reference="NL12",
                          at=at("2026-01-05T00:00:00"), actor=STAFF)  # fmt: skip
    assert (paid.amount_cents, paid.actor) == (6958, STAFF)


def test_a_run_before_the_calls_are_reported_leaves_them_for_later(month: Month) -> None:
    run = run_period(fold(month.history)[A], "2026-01")
    assert run.invoice is not None
    statuses = sorted(d.status for d in run.calls())
    assert statuses.count("pending") == 1
    assert statuses.count("non_billable") == 5


def test_an_invoice_says_what_it_is_for_and_how_far_into_the_billing_stream_it_saw(
    month: Month,
) -> None:
    [top_up_invoice] = [
        e for e in month.history if isinstance(e, InvoiceIssued) and e.client_id == C
    ]
    assert (top_up_invoice.purpose, top_up_invoice.billing_stream_position) == ("top_up", 1)
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers))
    january = month.invoice(C, "2026-01")
    # C's stream before the run: the top-up and its invoice.
    assert (january.purpose, january.billing_stream_position) == ("monthly", 2)
    assert month.invoice(B, "2026-01").billing_stream_position == 1  # December's invoice


def test_calls_from_before_any_terms_are_no_terms_and_never_invoiced() -> None:
    client = new_id()
    history: list[Event] = [registered(client, "2025-12-10T09:00:00")]
    # Year 1, 1900 and the day before the client existed.
    early = [
        call(client, f"{when}T09:00:00") for when in ("0001-01-01", "1900-06-01", "2025-12-09")
    ]
    january = call(client, "2026-01-05T09:00:00")
    history += [*early, january, reported(client, [*early, january], "2026-01-05T16:15:00")]
    numbers = Numbers()
    [invoice] = issue_month(history, "2026-01", "2026-02-01T06:00:00", numbers)
    assert isinstance(invoice, InvoiceIssued)
    billed = {c for line in invoice.lines for c in line.call_ids}
    assert billed == {january.call_id}
    assert {line.period for line in invoice.lines} == {"2026-01"}
    # Setup fee 4500 + the January call 200 = 4700; VAT 987.
    assert _totals(invoice) == (4700, 987, 5687)
    decisions = decide_calls(fold(history)[client])
    for early_call in early:
        decision = decisions[early_call.call_id]
        assert (decision.status, decision.reason, decision.settlement) == (
            "no_terms", "no_terms", "none",
        )  # fmt: skip
        assert decision.terms is None
        assert "no terms" in explain(decision)
    again = issue_month([*history, invoice], "2026-01", "2026-02-01T07:00:00", numbers)
    assert again == []


def test_a_call_on_the_day_before_a_later_start_is_no_terms_not_billed_under_them() -> None:
    client = new_id()
    history: list[Event] = [registered(client, "2026-01-20T09:00:00")]
    before = call(client, "2026-01-19T09:00:00")
    on_the_day = call(client, "2026-01-20T08:00:00")  # the Amsterdam day the terms began
    history += [before, on_the_day, reported(client, [before, on_the_day], "2026-01-20T16:15:00")]
    decisions = decide_calls(fold(history)[client])
    assert decisions[before.call_id].status == "no_terms"
    assert decisions[on_the_day.call_id].billable
    run = run_period(fold(history)[client], "2026-01")
    assert run.invoice is not None
    assert [c for line in run.invoice.lines for c in line.call_ids] == [on_the_day.call_id]
    assert sorted(d.status for d in run.calls()) == ["billable", "no_terms"]


def test_a_replay_leaves_out_the_api_key_events_of_the_client(month: Month) -> None:
    month.add(*issue_month(month.history, "2026-01", "2026-02-01T06:00:00", month.numbers, [A]))
    key_id = new_id()
    keys: list[Event] = [
        ApiKeyIssued(client_id=A, occurred_at=at("2026-01-06T09:00:00"), actor=STAFF,
                     key_id=key_id, name="CRM", role="client", secret_sha256="0" * 64),
        ApiKeyRevoked(client_id=A, occurred_at=at("2026-01-07T09:00:00"), actor=STAFF,
                      key_id=key_id),
    ]  # fmt: skip

    def logged(events: list[Event]) -> list[LoggedEvent]:
        offsets: dict[str, int] = {}
        found = []
        for event in events:
            topic = f"t.{event.service}"
            offsets[topic] = offsets.get(topic, -1) + 1
            found.append(LoggedEvent(event, topic, 0, offsets[topic]))
        return found

    plain = rebuild(logged(month.history), A, "2026-01", "t.billing", at("2026-02-02T00:00:00"))
    with_keys = rebuild(logged([*keys, *month.history]), A, "2026-01", "t.billing",
                        at("2026-02-02T00:00:00"))  # fmt: skip
    assert with_keys == plain
    assert (plain.basis, plain.difference.matches) == ("as_of", True)
