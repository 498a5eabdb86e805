"""The sender worker: claim due notifications, hand them over, record the outcome.

Delivery guarantee, as built. A notification is a row with a deterministic id and Message-ID
(UUIDv5 of its dedupe key), queued in the transaction that decided it (the consumer's inbox
transaction, or the digest run's). The sender claims it (state `sending`, a lease), sends
it, then marks it `sent` and appends NotificationSent in one transaction.
- Deciding twice queues nothing twice: the dedupe key is unique, a digest run is unique per
  (client, day), and a replay queues nothing at all.
- A crash before the message reaches the server leaves the row `sending`; when the lease
  ends another claim sends it. Nothing had been delivered: the client gets it once.
- A crash (or a lost connection, or a timeout) after the server accepted the message and
  before our commit looks exactly the same from here, so the message is sent again when
  the lease ends: same Message-ID, same content (clients that deduplicate on Message-ID show
  one). That span, from the server's acceptance to our commit, is the only place a
  duplicate can arise; SMTP has no way to ask a server whether it took a message. SMS
  requests carry the notification id as `reference` and Idempotency-Key for providers that
  deduplicate.
- NotificationSent is appended exactly once per notification: in the commit that ends the
  claim, which only the current claim (state `sending`, same attempt number) can make.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from libs.events.notify import NotificationFailed, NotificationSent
from libs.platform.faults import crash_point
from libs.platform.listen import Listening
from libs.platform.outages import DATABASE_OUTAGES
from libs.platform.runtime import ServiceRuntime, Worker
from services.notify import outbox
from services.notify.delivery import DeliveryError, Outgoing
from services.notify.domain.retry import GiveUp, claim_allowed, next_attempt, worth_another_try
from services.notify.metrics import (
    NOTIFICATION_BACKLOG,
    NOTIFICATION_DELAY,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RESENT,
    NOTIFICATIONS_SENT,
)
from services.notify.notifier import Notifier, store_of

log = structlog.get_logger(__name__)
BACKLOG_EVERY = 10.0


def worker(notifier: Notifier) -> Worker:
    """The sender loop, woken by new rows and polling for retries and expired leases."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        listening = Listening(
            rt.settings.database_url.get_secret_value(),
            outbox.wake_channel(store_of(rt).schema),
            lambda _: wake.set(),
            resync=lambda _: _woken(wake),  # rows queued while the connection was down
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(listening.run(stop))
            tasks.create_task(_send_until_stopped(rt, notifier, wake, stop))

    return run


async def _woken(wake: asyncio.Event) -> None:
    wake.set()


async def _send_until_stopped(
    rt: ServiceRuntime, notifier: Notifier, wake: asyncio.Event, stop: asyncio.Event
) -> None:
    backlog_at = 0.0
    while not stop.is_set():
        wake.clear()
        busy = await _round(rt, notifier)
        if time.monotonic() - backlog_at > BACKLOG_EVERY:
            backlog_at = time.monotonic()
            await _measure_backlog(rt)
        if not busy:
            await _wait_any(stop, wake, notifier.settings.sender_poll_seconds)


async def _round(rt: ServiceRuntime, notifier: Notifier) -> bool:
    try:
        return await send_due(rt, notifier)
    except Exception:  # the sender must outlive any one failure; rows wait for their lease
        log.exception("sender.round_failed")
        return False


async def send_due(rt: ServiceRuntime, notifier: Notifier) -> bool:
    """Claim and deliver one batch of due notifications; True when there was any."""
    store, s = store_of(rt), notifier.settings
    try:
        claimed = await outbox.claim(
            store.pool, store.schema, limit=s.sender_batch, lease_seconds=s.lease_seconds
        )
    except DATABASE_OUTAGES as exc:
        log.warning("sender.claim_failed", error=repr(exc))
        return False
    results = await asyncio.gather(
        *(deliver(rt, notifier, o) for o in claimed), return_exceptions=True
    )
    for o, result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):  # the lease will run out and it is retried
            log.error(
                "sender.record_failed", notification_id=str(o.notification_id), error=repr(result)
            )
    return bool(claimed)


async def deliver(rt: ServiceRuntime, notifier: Notifier, o: Outgoing) -> None:
    """Send one claimed notification and record what happened."""
    spent = claim_allowed(notifier.settings.retry_policy, o.attempts)
    if spent is not None:
        await record_failure(rt, notifier, o, DeliveryError(spent.reason, permanent=True))
        return
    if o.resumed:
        NOTIFICATIONS_RESENT.labels(o.channel, o.kind).inc()
        log.warning("sender.resending_unconfirmed", notification_id=str(o.notification_id))
    hop = "smtp" if o.channel == "email" else o.channel
    crash_point(f"notify.before_{hop}_send")
    try:
        await send_with_retries(notifier, o)
    except DeliveryError as exc:
        await record_failure(rt, notifier, o, exc)
        return
    crash_point(f"notify.after_{hop}_send")  # accepted, not yet recorded: the window
    await record_sent(rt, o)


async def send_with_retries(notifier: Notifier, o: Outgoing) -> None:
    """Hand the message over, retrying transient failures with exponential backoff."""
    s, policy = notifier.settings, notifier.settings.retry_policy
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.tries_per_claim),
        wait=wait_exponential_jitter(
            initial=policy.base_seconds, max=policy.max_pause_seconds, jitter=policy.base_seconds
        ),
        retry=retry_if_exception(_worth_another_try),
        reraise=True,
    )
    transport = notifier.transports[o.channel]
    async for attempt in retrying:
        with attempt:
            try:
                async with asyncio.timeout(s.send_seconds):
                    await transport.send(o)
            except DeliveryError:
                raise
            except TimeoutError as exc:  # maybe after the server accepted: see the docstring
                raise DeliveryError(f"no answer within {s.send_seconds}s", permanent=False) from exc
            except Exception as exc:  # an adapter's unexpected error: retry, never lose the row
                raise DeliveryError(f"unexpected: {exc!r}", permanent=False) from exc


def _worth_another_try(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and worth_another_try(exc.permanent)


async def record_sent(rt: ServiceRuntime, o: Outgoing) -> None:
    """Mark the row sent and append NotificationSent, in one transaction."""
    store, now = store_of(rt), rt.clock.now()
    async with store.transaction() as conn:
        if not await outbox.mark_sent(conn, store.schema, o, now):
            log.warning("sender.claim_lost", notification_id=str(o.notification_id))
            return
        event = NotificationSent(**_fields(o, now), message_id=o.message_id)
        await store.append(_stream(o), None, [event], conn=conn)
    NOTIFICATIONS_SENT.labels(o.channel, o.kind).inc()
    if o.reference_at is not None:
        delay = max((now - o.reference_at).total_seconds(), 0.0)
        NOTIFICATION_DELAY.labels(o.channel, o.kind).observe(delay)
    log.info("notification.sent", notification_id=str(o.notification_id), kind=o.kind)


async def record_failure(
    rt: ServiceRuntime, notifier: Notifier, o: Outgoing, exc: DeliveryError
) -> None:
    """Defer a transient failure, or give up; NotificationFailed says which."""
    store = store_of(rt)
    then = next_attempt(notifier.settings.retry_policy, o.attempts, exc.permanent)
    permanent = isinstance(then, GiveUp)
    error = str(exc)[:2000]
    async with store.transaction() as conn:
        if isinstance(then, GiveUp):
            done = await outbox.mark_failed(conn, store.schema, o, error)
        else:
            done = await outbox.defer(conn, store.schema, o, error, then.total_seconds())
        if done:
            event = NotificationFailed(
                **_fields(o, rt.clock.now()),
                message_id=o.message_id,
                error=error,
                permanent=permanent,
            )
            await store.append(_stream(o), None, [event], conn=conn)
    NOTIFICATIONS_FAILED.labels(o.channel, o.kind, str(permanent).lower()).inc()
    log.warning(
        "notification.failed",
        notification_id=str(o.notification_id),
        error=error,
        permanent=permanent,
    )


def _fields(o: Outgoing, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "client_id": o.client_id,
        "occurred_at": now,
        "notification_id": o.notification_id,
        "channel": o.channel,
        "kind": o.kind,
        "recipients": o.recipients,
        "dedupe_key": o.dedupe_key,
        "call_ids": o.call_ids,
    }
    if o.correlation_id is not None:
        fields["correlation_id"] = o.correlation_id
    return fields


def _stream(o: Outgoing) -> str:
    return f"notification-{o.notification_id}"


async def _measure_backlog(rt: ServiceRuntime) -> None:
    store = store_of(rt)
    try:
        counts = await outbox.backlog(store.pool, store.schema)
    except Exception:  # a metric is not worth stopping the sender for
        return
    for state, count in counts.items():
        NOTIFICATION_BACKLOG.labels(state).set(count)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
    await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
