"""The outbox worker: claim queued replies and forwards, hand them to the relay, record it.

Delivery guarantee, as built (the shape of notify's sender). `sending.answer()` records the
answer (ReplySent / ConversationForwarded) and queues the rendered mail in `outgoing` in one
transaction, its Message-ID fixed in the bytes. This worker claims due rows (`FOR UPDATE SKIP
LOCKED`, then state `sending` under a lease, so two replicas never hold one row at the same
time), hands the stored bytes to the relay, and marks the row `sent` only while its claim
still holds (same state, same attempt number).
- A crash after the record and before the hand-over leaves the row `queued` (or `sending`
  until its lease ends): the next claim sends it, once.
- A crash (or a lost connection, or a timeout) after the relay took the mail and before
  `sent` was committed looks the same from here, so the mail is sent again: the very same
  bytes, with the Message-ID that ReplySent / ConversationForwarded recorded and the
  In-Reply-To / References of the first copy; receivers deduplicate on the Message-ID. That
  span is the only place a second copy can arise: SMTP cannot be asked whether a server took
  a message. A row marked `sent` is never claimed again.
- RelayUnavailable puts the row back with a pause that doubles per claim, capped; after
  `outbox_max_attempts` claims the row is `failed`: logged with an alert, counted, and
  recorded (AnswerUndeliverable), which makes the conversation await an answer again.
Queue times (next attempt, lease) are the database's real time, never the simulation clock:
they measure how long a process has been silent, not business time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import structlog

from libs.platform.clock import Clock
from libs.platform.faults import crash_point
from libs.platform.listen import Listening
from libs.platform.outages import DATABASE_OUTAGES
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.store import EventStore
from services.inbox import conversations, metrics, sending
from services.inbox.directory import Queryable
from services.inbox.sending import RelayUnavailable
from services.inbox.settings import InboxSettings

log = structlog.get_logger(__name__)
BACKLOG_EVERY = 10.0
GIVE_UP_ALERT = (
    "a reply or forward could not be sent and will not be tried again; "
    "check the mail relay, then answer the conversation again"
)


@dataclass(frozen=True)
class Outgoing:
    """One claimed mail: its stored bytes, envelope, and which claim this is."""

    outgoing_id: UUID
    client_id: UUID
    conversation_id: UUID
    kind: str
    message_id: str
    raw: bytes
    mail_from: str
    rcpt_to: tuple[str, ...]
    attempts: int
    resumed: bool


def worker(config: InboxSettings) -> Worker:
    """The outbox loop, woken when a mail is queued and polling for retries and leases."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        store, wake = rt.require_store(), asyncio.Event()
        listening = Listening(
            rt.settings.database_url.get_secret_value(),
            sending.wake_channel(store.schema),
            lambda _: wake.set(),
            resync=lambda _: _woken(wake),  # mail queued while the connection was down
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(listening.run(stop))
            tasks.create_task(send_until_stopped(store, config, rt.clock, wake, stop))

    return run


async def _woken(wake: asyncio.Event) -> None:
    wake.set()


async def send_until_stopped(
    store: EventStore, config: InboxSettings, clock: Clock, wake: asyncio.Event,
    stop: asyncio.Event,
) -> None:  # fmt: skip
    """Send due mail until `stop` is set; a round with nothing to do waits for a wake-up."""
    backlog_at = 0.0
    while not stop.is_set():
        wake.clear()
        busy = await _round(store, config, clock)
        if time.monotonic() - backlog_at > BACKLOG_EVERY:
            backlog_at = time.monotonic()
            await _measure_backlog(store)
        if not busy:
            await _wait_any(stop, wake, config.outbox_poll_seconds)


async def _round(store: EventStore, config: InboxSettings, clock: Clock) -> bool:
    try:
        return await send_due(store, config, clock) > 0
    except Exception:  # the worker must outlive any one failure; rows wait for their lease
        log.exception("inbox.outbox_round_failed")
        return False


async def send_due(store: EventStore, config: InboxSettings, clock: Clock) -> int:
    """Claim and send one batch of due mail; how many rows were claimed."""
    try:
        claimed = await claim(
            store.pool, store.schema, limit=config.outbox_batch,
            lease_seconds=config.outbox_lease_seconds,
        )  # fmt: skip
    except DATABASE_OUTAGES as exc:
        log.warning("inbox.outbox_claim_failed", error=repr(exc))
        return 0
    results = await asyncio.gather(
        *(deliver(store, config, clock, o) for o in claimed), return_exceptions=True
    )
    for o, result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):  # its lease runs out and it is claimed again
            log.error("inbox.outbox_record_failed", outgoing_id=str(o.outgoing_id),
                      error=repr(result))  # fmt: skip
    return len(claimed)


async def deliver(store: EventStore, config: InboxSettings, clock: Clock, o: Outgoing) -> None:
    """Send one claimed mail and record what happened."""
    if o.attempts > config.outbox_max_attempts:  # earlier claims died without an outcome
        await give_up(store, clock, o, f"gave up after {o.attempts - 1} attempts")
        return
    if o.resumed:
        metrics.REPLIES_RESENT.labels(o.kind).inc()
        log.warning("inbox.outbox_resending_unconfirmed", outgoing_id=str(o.outgoing_id),
                    message_id=o.message_id)  # fmt: skip
    crash_point("inbox.before_relay_send")
    try:
        async with asyncio.timeout(config.outbox_send_seconds):
            await sending.relay(o.raw, o.mail_from, o.rcpt_to, config)
    except (RelayUnavailable, TimeoutError) as exc:  # a timeout may follow acceptance: resent
        error = str(exc) or "the relay did not answer in time"
        await record_failure(store, config, clock, o, error)
        return
    crash_point("inbox.after_relay_send")  # taken by the relay, not yet recorded: the window
    await record_sent(store, clock, o)


async def record_sent(store: EventStore, clock: Clock, o: Outgoing) -> None:
    """Mark the row sent, if this claim still holds it; count the reply as sent."""
    if not await mark_sent(store.pool, store.schema, o, clock.now()):
        log.warning("inbox.outbox_claim_lost", outgoing_id=str(o.outgoing_id))
        return
    metrics.REPLIES.labels(o.kind, "sent").inc()
    log.info("inbox.answer_sent", outgoing_id=str(o.outgoing_id), message_id=o.message_id,
             conversation_id=str(o.conversation_id), kind=o.kind)  # fmt: skip


async def record_failure(
    store: EventStore, config: InboxSettings, clock: Clock, o: Outgoing, error: str
) -> None:
    """Put the row back for a later claim, or give up once the claims are spent."""
    metrics.REPLIES.labels(o.kind, "failed").inc()
    if o.attempts >= config.outbox_max_attempts:
        await give_up(store, clock, o, error)
        return
    pause = pause_after(o.attempts, config)
    await defer(store.pool, store.schema, o, error, pause)
    log.warning("inbox.answer_deferred", outgoing_id=str(o.outgoing_id), error=error,
                attempts=o.attempts, retry_in_seconds=pause)  # fmt: skip


def pause_after(attempts: int, config: InboxSettings) -> float:
    """Seconds before the next claim after claim number `attempts` failed: doubling, capped."""
    doubling = 2.0 ** min(max(attempts - 1, 0), 30)
    return min(config.outbox_retry_base_seconds * doubling, config.outbox_retry_max_seconds)


async def give_up(store: EventStore, clock: Clock, o: Outgoing, error: str) -> None:
    """Fail the row for good and record it (AnswerUndeliverable): the conversation awaits an
    answer again, due at once, so it is overdue and escalates; an operator has to look at it."""
    async with store.transaction() as conn:
        if not await mark_failed(conn, store.schema, o, error):
            return
        kind: Literal["reply", "forward"] = "forward" if o.kind == "forward" else "reply"
        await conversations.undeliverable(
            conn, store, o.conversation_id, message_id=o.message_id, kind=kind, reason=error,
            at=clock.now(),
        )  # fmt: skip
    metrics.REPLIES_GIVEN_UP.labels(o.kind).inc()
    log.error(
        "inbox.answer_given_up", outgoing_id=str(o.outgoing_id), message_id=o.message_id,
        conversation_id=str(o.conversation_id), client_id=str(o.client_id), kind=o.kind,
        attempts=o.attempts, error=error, alert=GIVE_UP_ALERT,
    )  # fmt: skip


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


async def mark_sent(db: Queryable, schema: str, o: Outgoing, at: datetime) -> bool:
    """Record the hand-over, if this claim still holds the row: it is never claimed again."""
    return await _finish(db, schema, o, "state = 'sent', sent_at = $3, last_error = NULL", at)


async def defer(db: Queryable, schema: str, o: Outgoing, error: str, seconds: float) -> bool:
    """Back in the queue, due again after a pause."""
    return await _finish(
        db, schema, o,
        "state = 'queued', last_error = $3, next_attempt_at = now() + make_interval(secs => $4)",
        error[:2000], seconds,
    )  # fmt: skip


async def mark_failed(db: Queryable, schema: str, o: Outgoing, error: str) -> bool:
    """Given up: the row stays, failed, with its last error."""
    return await _finish(db, schema, o, "state = 'failed', last_error = $3", error[:2000])


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
        outgoing_id=row["outgoing_id"], client_id=row["client_id"],
        conversation_id=row["conversation_id"], kind=row["kind"], message_id=row["message_id"],
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
        metrics.OUTGOING_BACKLOG.labels(state).set(count)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
    await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
