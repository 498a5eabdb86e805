"""The mail sender: claim queued invoice and reminder mail, hand it to SMTP, record it.

Delivery guarantee, as built (the shape of notify's sender and inbox's outbox). The mail was
recorded (InvoiceSent / PaymentReminderSent) and its bytes queued in `outgoing` in one
transaction, the Message-ID fixed in the bytes. This worker claims due rows (`FOR UPDATE SKIP
LOCKED`, then state `sending` under a lease, so two replicas never hold one row at once),
hands the stored bytes to the SMTP server and marks the row `sent` only while its claim still
holds (same state, same attempt number).
- A crash before the hand-over leaves the row `queued` (or `sending` until its lease ends):
  the next claim sends it, once.
- A crash after the server took the mail and before `sent` was committed looks the same from
  here, so the mail is sent again: the very same bytes and Message-ID, which receivers
  deduplicate on. SMTP cannot be asked whether it took a message; that span is the only
  place a second copy can arise. A row marked `sent` is never claimed again.
- A refusal or an unreachable server puts the row back with a pause that doubles per claim,
  capped; after `outbox_max_attempts` claims the row is `failed`: logged with an alert and
  counted; staff see it and the invoice stays retrievable over the API.
Queue times (next attempt, lease) are the database's real time, not the simulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from libs.platform.faults import crash_point
from libs.platform.outages import DATABASE_OUTAGES
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.store import EventStore
from services.billing import mailing, metrics
from services.billing.mailing import RelayUnavailable
from services.billing.read_model import Queryable
from services.billing.settings import BillingSettings

log = structlog.get_logger(__name__)
BACKLOG_EVERY = 10.0
GIVE_UP_ALERT = "an invoice or reminder mail could not be sent and will not be tried again"


@dataclass(frozen=True)
class Outgoing:
    """One claimed mail: its stored bytes, envelope, and which claim this is."""

    outgoing_id: UUID
    kind: str
    message_id: str
    raw: bytes
    mail_from: str
    rcpt_to: tuple[str, ...]
    attempts: int
    resumed: bool


def worker(config: BillingSettings) -> Worker:
    """The sender loop, polling for due mail."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        await send_until_stopped(rt.require_store(), config, stop)

    return run


async def send_until_stopped(
    store: EventStore, config: BillingSettings, stop: asyncio.Event
) -> None:
    """Send due mail until `stop` is set; a round with nothing to do waits a poll interval."""
    backlog_at = 0.0
    while not stop.is_set():
        busy = await _round(store, config)
        if time.monotonic() - backlog_at > BACKLOG_EVERY:
            backlog_at = time.monotonic()
            await _measure_backlog(store)
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), config.outbox_poll_seconds)


async def _round(store: EventStore, config: BillingSettings) -> bool:
    try:
        return await send_due(store, config) > 0
    except Exception:  # the worker must outlive any one failure; rows wait for their lease
        log.exception("billing.sender_round_failed")
        return False


async def send_due(store: EventStore, config: BillingSettings) -> int:
    """Claim and send one batch of due mail; how many rows were claimed."""
    try:
        claimed = await claim(store.pool, store.schema, limit=config.outbox_batch,
                              lease_seconds=config.outbox_lease_seconds)  # fmt: skip
    except DATABASE_OUTAGES as exc:
        log.warning("billing.sender_claim_failed", error=repr(exc))
        return 0
    results = await asyncio.gather(
        *(deliver(store, config, o) for o in claimed), return_exceptions=True
    )
    for o, result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):  # its lease runs out and it is claimed again
            log.error("billing.sender_record_failed", outgoing_id=str(o.outgoing_id),
                      error=repr(result))  # fmt: skip
    return len(claimed)


async def deliver(store: EventStore, config: BillingSettings, o: Outgoing) -> None:
    """Send one claimed mail and record what happened."""
    if o.attempts > config.outbox_max_attempts:  # earlier claims died without an outcome
        await give_up(store, o, f"gave up after {o.attempts - 1} attempts")
        return
    if o.resumed:
        metrics.MAIL_RESENT.labels(o.kind).inc()
        log.warning("billing.mail_resending_unconfirmed", outgoing_id=str(o.outgoing_id),
                    message_id=o.message_id)  # fmt: skip
    crash_point("billing.before_smtp_send")
    try:
        async with asyncio.timeout(config.smtp_timeout_seconds + 5):
            await mailing.relay(o.raw, o.mail_from, o.rcpt_to, config)
    except (RelayUnavailable, TimeoutError) as exc:  # a timeout may follow acceptance: resent
        await record_failure(store, config, o, str(exc) or "the SMTP server did not answer")
        return
    crash_point("billing.after_smtp_send")  # taken by the server, not yet recorded: the window
    if not await mark_sent(store.pool, store.schema, o):
        log.warning("billing.mail_claim_lost", outgoing_id=str(o.outgoing_id))
        return
    metrics.MAILED.labels(o.kind, "sent").inc()
    log.info("billing.mail_sent", outgoing_id=str(o.outgoing_id), message_id=o.message_id,
             kind=o.kind)  # fmt: skip


async def record_failure(
    store: EventStore, config: BillingSettings, o: Outgoing, error: str
) -> None:
    """Put the row back for a later claim, or give up once the claims are spent."""
    metrics.MAILED.labels(o.kind, "failed").inc()
    if o.attempts >= config.outbox_max_attempts:
        await give_up(store, o, error)
        return
    pause = pause_after(o.attempts, config)
    await _finish(
        store.pool, store.schema, o,
        "state = 'queued', last_error = $3, next_attempt_at = now() + make_interval(secs => $4)",
        error[:2000], pause,
    )  # fmt: skip
    log.warning("billing.mail_deferred", outgoing_id=str(o.outgoing_id), error=error,
                attempts=o.attempts, retry_in_seconds=pause)  # fmt: skip


def pause_after(attempts: int, config: BillingSettings) -> float:
    """Seconds before the next claim after claim number `attempts` failed: doubling, capped."""
    doubling = 2.0 ** min(max(attempts - 1, 0), 30)
    return min(config.outbox_retry_base_seconds * doubling, config.outbox_retry_max_seconds)


async def give_up(store: EventStore, o: Outgoing, error: str) -> None:
    """Fail the row for good: logged with an alert and counted."""
    if not await _finish(store.pool, store.schema, o, "state = 'failed', last_error = $3",
                         error[:2000]):  # fmt: skip
        return
    metrics.MAIL_GIVEN_UP.labels(o.kind).inc()
    log.error("billing.mail_given_up", outgoing_id=str(o.outgoing_id), message_id=o.message_id,
              kind=o.kind, attempts=o.attempts, error=error, alert=GIVE_UP_ALERT)  # fmt: skip


async def claim(db: Queryable, schema: str, *, limit: int, lease_seconds: float) -> list[Outgoing]:
    """Take up to `limit` due rows (queued and due, or sending with an expired lease)."""
    rows = await db.fetch(
        f"""
        WITH due AS (
            SELECT outgoing_id, state AS was FROM {schema}.outgoing
            WHERE (state = 'queued' AND next_attempt_at <= now())
               OR (state = 'sending' AND lease_until < now())
            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        UPDATE {schema}.outgoing o SET state = 'sending', attempts = o.attempts + 1,
            lease_until = now() + make_interval(secs => $2)
        FROM due WHERE o.outgoing_id = due.outgoing_id
        RETURNING o.*, due.was = 'sending' AS resumed
        """,
        limit,
        lease_seconds,
    )
    return [_outgoing(row) for row in rows]


async def mark_sent(db: Queryable, schema: str, o: Outgoing) -> bool:
    """Record the hand-over, if this claim still holds the row: it is never claimed again."""
    return await _finish(db, schema, o, "state = 'sent', sent_at = now(), last_error = NULL")


async def _finish(db: Queryable, schema: str, o: Outgoing, assignments: str, *args: Any) -> bool:
    """Apply a transition, only while the row is still under this claim."""
    done = await db.fetchval(
        f"UPDATE {schema}.outgoing SET {assignments}, lease_until = NULL "
        "WHERE outgoing_id = $1 AND state = 'sending' AND attempts = $2 RETURNING true",
        o.outgoing_id, o.attempts, *args,
    )  # fmt: skip
    return bool(done)


def _outgoing(row: asyncpg.Record) -> Outgoing:
    return Outgoing(
        outgoing_id=row["outgoing_id"], kind=row["kind"], message_id=row["message_id"],
        raw=bytes(row["raw"]), mail_from=row["mail_from"], rcpt_to=tuple(row["rcpt_to"]),
        attempts=row["attempts"], resumed=row["resumed"],
    )  # fmt: skip


async def _measure_backlog(store: EventStore) -> None:
    try:
        rows = await store.pool.fetch(
            f"SELECT state, count(*) AS n FROM {store.schema}.outgoing "
            "WHERE state IN ('queued', 'sending') GROUP BY state"
        )
    except Exception:  # a metric is not worth stopping the worker for
        return
    counts = {"queued": 0, "sending": 0, **{row["state"]: row["n"] for row in rows}}
    for state, count in counts.items():
        metrics.MAIL_BACKLOG.labels(state).set(count)
