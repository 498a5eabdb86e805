"""The payment-reminder timer: on billing's clock, remind overdue invoices on the set days.

Each round looks at every invoice with something outstanding: the outstanding-amount gauge is
set from them, and an invoice whose next reminder stage has been reached (`reminder_due`)
gets one reminder, recorded (PaymentReminderSent) and queued in one transaction under the
client's billing lock, after looking again at what is paid and reminded: a payment recorded
meanwhile, or another replica's round, leaves nothing to send. The clock is billing's own
(the simulated one in tests), so "21 days after the due date" is business time.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import structlog

from libs.events.envelope import SYSTEM
from libs.platform.clock import Clock
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.store import EventStore
from services.billing import mailing, metrics, printing, read_model
from services.billing.commands import lock_client
from services.billing.domain.calendar import local_date
from services.billing.domain.dunning import Dunning, due_date, reminder_due
from services.billing.settings import BillingSettings

log = structlog.get_logger(__name__)


def worker(config: BillingSettings) -> Worker:
    """The reminder loop, one round per poll interval."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        store = rt.require_store()
        while not stop.is_set():
            try:
                await remind_due(store, config, rt.clock)
            except Exception:  # the timer must outlive any one failure; the next round retries
                log.exception("billing.reminder_round_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), config.reminder_poll_seconds)

    return run


def dunning_of(row: Any, config: BillingSettings) -> Dunning:
    """What the reminder rule needs of an invoice row (with its paid and credited sums)."""
    return Dunning(
        due=due_date(local_date(row["issued_at"]), config.payment_terms_days),
        outstanding_cents=row["total_cents"] - row["paid"] - row["credited"],
        reminders_sent=row["reminders"],
        sent=row["sent_at"] is not None,
    )


async def remind_due(store: EventStore, config: BillingSettings, clock: Clock) -> int:
    """One round: measure what is outstanding and send the reminders due now; how many."""
    now = clock.now()
    rows = await read_model.open_invoices(store.pool, store.schema)
    _measure(rows, config, now)
    if not config.mail_enabled:
        return 0
    today, sent = local_date(now), 0
    for row in rows:
        if reminder_due(dunning_of(row, config), today, config.reminder_days) is not None:
            sent += await _remind(store, config, row["document_id"], row["client_id"], now)
    return sent


async def _remind(
    store: EventStore, config: BillingSettings, invoice_id: Any, client_id: Any, now: datetime
) -> int:
    """Send the invoice's due reminder, if it is still due once the client is locked."""
    async with store.transaction() as conn:
        await lock_client(conn, store.schema, client_id)
        row = await read_model.open_invoice(conn, store.schema, invoice_id)
        if row is None:
            return 0
        dunning = dunning_of(row, config)
        n = reminder_due(dunning, local_date(now), config.reminder_days)
        if n is None:
            return 0
        document = await printing.printed_row(conn, store.schema, config, row)
        await mailing.remind(conn, store, config, document, n, dunning.due,
                             dunning.outstanding_cents, now, SYSTEM)  # fmt: skip
    metrics.reminder_sent(n)
    log.info("billing.reminder_queued", invoice_id=str(invoice_id), reminder=n)
    return 1


def _measure(rows: list[Any], config: BillingSettings, now: datetime) -> None:
    today = local_date(now)
    totals = {"true": 0, "false": 0}
    for row in rows:
        dunning = dunning_of(row, config)
        totals["true" if today > dunning.due else "false"] += dunning.outstanding_cents
    for overdue, cents in totals.items():
        metrics.OUTSTANDING_CENTS.labels(overdue).set(cents)
