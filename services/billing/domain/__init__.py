"""The billing domain, pure: a fold over intake, calls, notify and billing events into invoices."""

from services.billing.domain.calendar import local_date, period_has_ended, period_of
from services.billing.domain.charges import billed_so_far, is_top_up
from services.billing.domain.compare import Difference, compare
from services.billing.domain.decisions import CallDecision, decide_calls
from services.billing.domain.documents import Draft, PeriodRun, run_period, statement
from services.billing.domain.explain import explain
from services.billing.domain.issue import (
    TopUp,
    credit_note_issued,
    document_number,
    invoice_issued,
    outstanding,
    record_payment,
    top_up,
    year_of,
)
from services.billing.domain.ledger import (
    BILLING_INPUTS,
    ClientFacts,
    Ledger,
    client_facts,
    evolve,
    fold,
)
from services.billing.domain.money import euros, vat_cents
from services.billing.domain.replay import LoggedEvent, Replay, rebuild
from services.billing.domain.wallet import WalletEntry, balance, low_balance_warning, wallet
from services.billing.domain.what_if import WhatIf, what_if

__all__ = [
    "BILLING_INPUTS",
    "CallDecision",
    "ClientFacts",
    "Difference",
    "Draft",
    "Ledger",
    "LoggedEvent",
    "PeriodRun",
    "Replay",
    "TopUp",
    "WalletEntry",
    "WhatIf",
    "balance",
    "billed_so_far",
    "client_facts",
    "compare",
    "credit_note_issued",
    "decide_calls",
    "document_number",
    "euros",
    "evolve",
    "explain",
    "fold",
    "invoice_issued",
    "is_top_up",
    "local_date",
    "low_balance_warning",
    "outstanding",
    "period_has_ended",
    "period_of",
    "rebuild",
    "record_payment",
    "run_period",
    "statement",
    "top_up",
    "vat_cents",
    "wallet",
    "what_if",
    "year_of",
]
