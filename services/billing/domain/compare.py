"""The difference between an issued invoice and the same month recomputed from the log."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from libs.events.billing import DocumentLine, InvoiceIssued
from services.billing.domain.documents import Draft


@dataclass(frozen=True)
class Difference:
    """Lines found on one side only, and how far the totals are apart (recomputed - issued)."""

    matches: bool
    only_in_issued: tuple[DocumentLine, ...]
    only_in_recomputed: tuple[DocumentLine, ...]
    subtotal_delta_cents: int
    vat_delta_cents: int
    total_delta_cents: int


def compare(recomputed: Draft | None, issued: InvoiceIssued | None) -> Difference:
    """Line by line (as multisets) and total by total."""
    mine = Counter(recomputed.lines if recomputed else ())
    theirs = Counter(issued.lines if issued else ())
    only_issued = tuple((theirs - mine).elements())
    only_recomputed = tuple((mine - theirs).elements())
    totals = [
        _total(recomputed, name) - _total(issued, name)
        for name in ("subtotal_cents", "vat_cents", "total_cents")
    ]
    matches = not only_issued and not only_recomputed and not any(totals)
    return Difference(matches, only_issued, only_recomputed, *totals)


def _total(document: Draft | InvoiceIssued | None, name: str) -> int:
    return int(getattr(document, name)) if document is not None else 0
