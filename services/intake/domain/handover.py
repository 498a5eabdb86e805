"""Handing the secretary book over when a client leaves: "we hand over the secretary book only
when the invoices are paid." Pure.

What is open is what billing issued and nobody paid or credited: per invoice, its total less
its payments and credit notes. The hand-over is refused while anything is open, naming each
open invoice; otherwise every version of the book is released, as a document (a PDF) and in
a machine-readable form (JSON), and the release is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from libs.errors import Conflict


@dataclass(frozen=True)
class Document:
    """An invoice as the hand-over sees it: what it asked, and what came in against it."""

    invoice_number: str
    total_cents: int
    paid_cents: int
    credited_cents: int
    issued_at: datetime

    @property
    def open_cents(self) -> int:
        """What is still owed on it (never below nothing: an overpayment owes nothing)."""
        return max(self.total_cents - self.paid_cents - self.credited_cents, 0)


@dataclass(frozen=True)
class Version:
    """One version of the book, as it was written."""

    book_version: int
    revised_at: datetime
    content: dict[str, Any]


class Outstanding(Conflict):
    """Invoices are open: the book is not handed over yet."""

    def __init__(self, open_invoices: Sequence[Document]) -> None:
        self.open_invoices = tuple(open_invoices)
        self.errors = tuple(
            f"invoice {d.invoice_number}: EUR {d.open_cents / 100:.2f} open of "
            f"EUR {d.total_cents / 100:.2f}"
            for d in self.open_invoices
        )
        super().__init__(
            f"the secretary book is handed over once every invoice is paid; "
            f"{len(self.open_invoices)} open: {', '.join(self.errors)}"
        )


def open_invoices(documents: Iterable[Document]) -> list[Document]:
    """The invoices with something still owed, oldest first."""
    return sorted(
        (d for d in documents if d.open_cents > 0), key=lambda d: (d.issued_at, d.invoice_number)
    )


def release(documents: Iterable[Document], versions: Sequence[Version]) -> Sequence[Version]:
    """Every version of the book, when nothing is owed; Outstanding naming what is owed else."""
    owed = open_invoices(documents)
    if owed:
        raise Outstanding(owed)
    if not versions:
        raise Conflict("the client has no secretary book to hand over")
    return sorted(versions, key=lambda v: v.book_version)


def machine_readable(
    client_id: str, name: str, versions: Sequence[Version], at: datetime
) -> dict[str, Any]:
    """The book's versions as one JSON document (the format a successor bureau can read)."""
    return {
        "format": "frontdesk.secretary-book.v1",
        "client_id": client_id,
        "client_name": name,
        "exported_at": at.isoformat(),
        "versions": [
            {"book_version": v.book_version, "revised_at": v.revised_at.isoformat(), **v.content}
            for v in versions
        ],
    }
