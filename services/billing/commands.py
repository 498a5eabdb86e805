"""Command handlers: lock the client, fold its history, decide, number, append, project.

Each client's billing writes are serialised by a transaction-scoped advisory lock; invoice
numbers come from a per-year counter row locked FOR UPDATE in the same transaction that
appends the invoice, so a rolled-back run leaves no gap and two runs never share a number.
An invoice run takes its clients in chunks, each chunk in one transaction (its facts read in
one query, its numbers reserved at once, its mails rendered in one go); a client another
writer holds is not waited for inside a chunk but issued on its own after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import structlog

from libs.errors import NotFound, Rejected
from libs.events.billing import DocumentKind, InvoiceIssued, LogPosition, PunchCardLow
from libs.events.envelope import Actor, Event, new_id
from libs.platform.db import Connection, advisory_key
from libs.platform.store import EventStore, StreamAppend
from services.billing import directory, mailing, metrics, printing, read_model
from services.billing.directory import record_own
from services.billing.domain.calendar import period_has_ended
from services.billing.domain.documents import PeriodRun, run_period
from services.billing.domain.issue import (
    credit_note_issued,
    document_number,
    invoice_issued,
    record_payment,
    top_up,
    year_of,
)
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.wallet import low_balance_warning
from services.billing.read_model import Queryable
from services.billing.schemas import InvoiceDocument
from services.billing.settings import BillingSettings

log = structlog.get_logger(__name__)
Outcome = Literal["issued", "already_issued", "nothing_to_invoice"]
INVOICE_SERIES = ""
CREDIT_NOTE_SERIES = "CN-"


def stream_id(client_id: UUID) -> str:
    """The billing stream of a client: all its documents, top-ups and payments, in order."""
    return f"billing-{client_id}"


async def lock_client(conn: Connection, schema: str, client_id: UUID) -> None:
    """Serialise billing's writes for one client until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(schema, str(client_id)))


@dataclass(frozen=True)
class RunResult:
    """What an invoice run did for one client."""

    client_id: UUID
    outcome: Outcome
    invoice_id: UUID | None = None
    invoice_number: str | None = None
    total_cents: int | None = None
    credit_note_ids: tuple[UUID, ...] = ()


RUN_CHUNK = 20
"""Clients a run issues in one transaction: one commit, one read of their facts and one
number reservation per series for all of them (a crash rolls the whole chunk back)."""


async def run_invoices(
    store: EventStore, period: str, client_id: UUID | None, now: datetime, topics: Sequence[str],
    actor: Actor, billing: BillingSettings | None = None,
) -> list[RunResult]:  # fmt: skip
    """Issue the month's invoices of one client or all; a second run issues nothing again."""
    if not period_has_ended(period, now):
        raise Rejected(f"{period} has not ended yet; a month is invoiced once it is over")
    clients = await directory.client_ids(store.pool, store.schema)
    if client_id is not None:
        if client_id not in clients:
            raise NotFound(f"no client {client_id}")
        clients = [client_id]
    run = Run(store, period, now, topics, actor, billing)
    results: dict[UUID, RunResult] = {}
    for first in range(0, len(clients), RUN_CHUNK):
        results.update(await run.chunk(clients[first : first + RUN_CHUNK]))
    return [results[c] for c in clients]


@dataclass(frozen=True)
class Run:
    """One invoice run: a month, an instant and who runs it; clients are issued in chunks."""

    store: EventStore
    period: str
    now: datetime
    topics: Sequence[str]
    actor: Actor
    billing: BillingSettings | None

    async def chunk(self, clients: Sequence[UUID]) -> dict[UUID, RunResult]:
        """The clients' months, together where possible: those another writer holds right now
        are issued one by one after; a chunk that fails is redone client by client, so the
        error is one client's own and the clients before it are issued, as without chunks."""
        try:
            results, busy, issued = await self._together(clients)
        except Exception:  # redone one by one below, where the error surfaces again
            log.warning("billing.run_chunk_redone", clients=len(clients), exc_info=True)
            results, busy, issued = {}, list(clients), []
        for events, run in issued:
            _count(events, run)
        for client_id in busy:
            results[client_id] = await self.one(client_id)
        return results

    async def one(self, client_id: UUID) -> RunResult:
        """One client's month in its own transaction, waiting for its lock."""
        return await issue_month(self.store, client_id, self.period, self.now, self.topics,
                                 self.actor, self.billing)  # fmt: skip

    async def _together(
        self, clients: Sequence[UUID]
    ) -> tuple[dict[UUID, RunResult], list[UUID], list[tuple[list[Event], PeriodRun]]]:
        """The chunk in one transaction: its results, the clients it could not lock and what
        it issued (for the metrics, counted once committed)."""
        store, schema = self.store, self.store.schema
        async with store.transaction() as conn:
            locked = await try_lock_clients(conn, schema, clients)
            existing = await read_model.monthly_invoices(conn, schema, locked, self.period)
            todo = [c for c in locked if c not in existing]
            loaded = await directory.load_clients(conn, schema, todo, self.topics)
            runs = [run_period(loaded[c][0], self.period) for c in todo]
            issued = await _numbered(conn, schema, runs, self.now, self.actor,
                                     {c: loaded[c][1] for c in todo})  # fmt: skip
            await store.append_many([StreamAppend(stream_id(client_id), None, events)
                                     for client_id, events in issued.items() if events],
                                    conn=conn)  # fmt: skip
            await record_own(conn, schema, [e for events in issued.values() for e in events])
            if self.billing is not None and self.billing.mail_enabled:
                facts = {c: loaded[c][0] for c in todo}
                printed = await _printed(conn, schema, self.billing, issued, runs, facts, self.now)
                await mailing.queue(conn, store, self.billing, printed, self.now)
        results = {c: _existing(c, row) for c, row in existing.items()}
        results.update((c, _result(c, events)) for c, events in issued.items())
        busy = [c for c in clients if c not in locked]
        return results, busy, [(issued[run.client_id], run) for run in runs]


async def try_lock_clients(conn: Connection, schema: str, clients: Sequence[UUID]) -> list[UUID]:
    """The clients whose billing writes this transaction now holds, never waiting for one."""
    rows = await conn.fetch(
        "SELECT id FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS t(id, key, n) "
        "WHERE pg_try_advisory_xact_lock(key) ORDER BY n",
        list(clients), [advisory_key(schema, str(c)) for c in clients],
    )  # fmt: skip
    return [row["id"] for row in rows]


async def issue_month(
    store: EventStore, client_id: UUID, period: str, now: datetime, topics: Sequence[str],
    actor: Actor, billing: BillingSettings | None = None,
) -> RunResult:  # fmt: skip
    """The client's invoice (and due credit notes) for the month, unless issued already.

    With mail on (`billing` given and mail enabled) each document's mail is recorded and
    queued in the same transaction."""
    async with store.transaction() as conn:
        await lock_client(conn, store.schema, client_id)
        existing = await read_model.monthly_invoice(conn, store.schema, client_id, period)
        if existing is not None:
            return _existing(client_id, existing)
        client, positions = await directory.load_client(conn, store.schema, client_id, topics)
        run = run_period(client, period)
        events = await _documents(conn, store.schema, run, now, positions, actor)
        if events:
            await store.append(stream_id(client_id), None, events, conn=conn)
            await record_own(conn, store.schema, events)
            await _announce(conn, store, billing, events, now)
    _count(events, run)
    return _result(client_id, events)


def _existing(client_id: UUID, row: Any) -> RunResult:
    return RunResult(client_id, "already_issued", row["document_id"], row["number"],
                     row["total_cents"])  # fmt: skip


def _count(events: list[Event], run: PeriodRun) -> None:
    """Metrics of what a client's run issued (after its commit)."""
    metrics.documents_issued(events)
    if run.invoice is not None:
        metrics.decisions_invoiced(run.calls())


async def _documents(
    conn: Connection, schema: str, run: PeriodRun, now: datetime, positions: list[LogPosition],
    actor: Actor,
) -> list[Event]:  # fmt: skip
    """Credit notes first, then the invoice, each numbered in its series for the year."""
    issued = await _numbered(conn, schema, [run], now, actor, {run.client_id: positions})
    return issued[run.client_id]


async def _numbered(
    conn: Connection, schema: str, runs: Sequence[PeriodRun], now: datetime, actor: Actor,
    positions: dict[UUID, list[LogPosition]],
) -> dict[UUID, list[Event]]:  # fmt: skip
    """Each run's credit notes, then its invoice, numbered in run order; one reservation per
    series for all (the same numbers as one client after the other)."""
    year = year_of(now)
    wanted = (sum(len(r.credit_notes) for r in runs), sum(r.invoice is not None for r in runs))
    notes = iter(await read_model.next_numbers(conn, schema, CREDIT_NOTE_SERIES, year, wanted[0]))
    invoices = iter(await read_model.next_numbers(conn, schema, INVOICE_SERIES, year, wanted[1]))
    issued: dict[UUID, list[Event]] = {}
    for run in runs:
        events: list[Event] = [credit_note_issued(
            run.client_id, note, credit_note_id=new_id(), at=now, actor=actor,
            number=document_number(CREDIT_NOTE_SERIES, year, next(notes)),
        ) for note in run.credit_notes]  # fmt: skip
        if run.invoice is not None:
            events.append(invoice_issued(
                run.client_id, run.invoice, invoice_id=new_id(), at=now,
                computed_from=positions[run.client_id], actor=actor,
                number=document_number(INVOICE_SERIES, year, next(invoices)),
            ))  # fmt: skip
        issued[run.client_id] = events
    return issued


async def _printed(
    conn: Connection, schema: str, billing: BillingSettings, issued: dict[UUID, list[Event]],
    runs: Sequence[PeriodRun], facts: dict[UUID, ClientFacts], at: datetime,
) -> list[mailing.Printed]:  # fmt: skip
    """The chunk's documents with their mails rendered: invoices printed from what the run
    holds, credit notes (which name the invoice they correct) as stored."""
    clients = await directory.client_rows(conn, schema, list(issued))
    documents: list[tuple[Event, DocumentKind, InvoiceDocument]] = []
    for run in runs:
        for event, document_id, kind in mailing.documents_among(issued[run.client_id]):
            if isinstance(event, InvoiceIssued):
                client = clients[run.client_id]
                doc = printing.printed_invoice(event, client, run, facts[run.client_id], billing)
            else:
                doc = await printing.printed(conn, schema, billing, document_id, kind, None)
            documents.append((event, kind, doc))
    return await mailing.render(documents, billing, at)


async def _announce(
    conn: Connection, store: EventStore, billing: BillingSettings | None, events: list[Event],
    now: datetime,
) -> None:  # fmt: skip
    """Record and queue the documents' mail, when billing mails (never in a replay)."""
    if billing is not None and billing.mail_enabled:
        await mailing.announce(conn, store, billing, events, now)


def _result(client_id: UUID, events: list[Event]) -> RunResult:
    notes = tuple(getattr(e, "credit_note_id") for e in events if e.type == "CreditNoteIssued")  # noqa: B009
    invoice = next((e for e in events if e.type == "InvoiceIssued"), None)
    if invoice is None:
        return RunResult(client_id, "nothing_to_invoice", credit_note_ids=notes)
    return RunResult(
        client_id, "issued", getattr(invoice, "invoice_id"),  # noqa: B009
        getattr(invoice, "invoice_number"), getattr(invoice, "total_cents"), notes,  # noqa: B009
    )  # fmt: skip


async def buy_credit(
    store: EventStore, client_id: UUID, amount_cents: int, now: datetime, topics: Sequence[str],
    actor: Actor, billing: BillingSettings | None = None,
) -> list[Event]:  # fmt: skip
    """Punch-card credit bought: PunchCardToppedUp and its invoice, appended together."""
    async with store.transaction() as conn:
        await lock_client(conn, store.schema, client_id)
        client, positions = await directory.load_client(conn, store.schema, client_id, topics)
        bought = top_up(client, amount_cents, top_up_id=new_id(), at=now, actor=actor)
        year = year_of(now)
        number = await read_model.next_number(conn, store.schema, INVOICE_SERIES, year)
        invoice = invoice_issued(
            client_id, bought.invoice, invoice_id=new_id(), at=now, computed_from=positions,
            number=document_number(INVOICE_SERIES, year, number), actor=actor,
        )  # fmt: skip
        events: list[Event] = [bought.event, invoice]
        await store.append(stream_id(client_id), None, events, conn=conn)
        await record_own(conn, store.schema, events)
        await _announce(conn, store, billing, events, now)
    metrics.documents_issued(events)
    return events


async def pay(
    store: EventStore, invoice_id: UUID, amount_cents: int, paid_at: datetime | None,
    reference: str, now: datetime, actor: Actor,
) -> Event:  # fmt: skip
    """Record a payment against an invoice (refused beyond what is outstanding)."""
    row = await read_model.document(store.pool, store.schema, invoice_id, "invoice", tenant=None)
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    client_id = row["client_id"]
    async with store.transaction() as conn:
        await lock_client(conn, store.schema, client_id)
        client = await facts(conn, store.schema, client_id)
        event = record_payment(client, invoice_id, amount_cents, payment_id=new_id(),
                               paid_at=paid_at or now, reference=reference, at=now,
                               actor=actor)  # fmt: skip
        await store.append(stream_id(client_id), None, [event], conn=conn)
        await record_own(conn, store.schema, [event])
    log.info("billing.payment", client_id=str(client_id), invoice_id=str(invoice_id))
    return event


async def punch_card_warning(
    conn: Connection, schema: str, client_id: UUID, now: datetime
) -> PunchCardLow | None:
    """The PunchCardLow due for the client now, with its billing writes locked; or None."""
    if not await directory.is_punch_card_client(conn, schema, client_id):
        return None
    await lock_client(conn, schema, client_id)
    client, _ = await directory.load_client(conn, schema, client_id, ())
    return low_balance_warning(client, now)


async def facts(db: Queryable, schema: str, client_id: UUID) -> ClientFacts:
    """A known client's facts (NotFound for a client billing never heard of)."""
    if await directory.client_row(db, schema, client_id) is None:
        raise NotFound(f"no client {client_id}")
    client, _ = await directory.load_client(db, schema, client_id, ())
    return client
