"""Everything the invariants are checked against, read once the run has settled."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from libs.devstack.chaos import observe
from libs.devstack.chaos.driver import Answer
from libs.devstack.chaos.settle import DB_ERRORS, KAFKA_ERRORS, stale_clocks
from libs.devstack.chaos.traffic import Traffic
from libs.devstack.chaos.world import Context

T = TypeVar("T")
READERS = 8


@dataclass
class Evidence:
    """The state of every service as its API, its tables, Kafka and the Maildir show it."""

    calls: dict[UUID, Answer]
    routes: dict[UUID, Answer]
    listed: set[UUID] = field(default_factory=set)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    replays: dict[str, Answer] = field(default_factory=dict)
    routed_events: Counter[UUID] = field(default_factory=Counter)
    digests: list[observe.DigestRow] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    mailbox: observe.Mailbox = field(default_factory=lambda: observe.Mailbox(Counter(), {}))
    dead_letters: dict[str, int] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)
    """What could not be read (each makes the checks that need it fail)."""


async def gather(ctx: Context, traffic: Traffic, period: str) -> Evidence:
    """Read the evidence from the APIs first, then the tables, Kafka and the Maildir."""
    ids = list(traffic.accepted)
    calls = await _each(
        ids, lambda i: ctx.driver.get(ctx.url("calls", f"/calls/{i}"), "GET /calls/{id}")
    )
    routes = await _each(
        ids, lambda i: ctx.driver.get(ctx.url("routing", f"/calls/{i}/routing"), "GET routing")
    )
    found = Evidence(dict(zip(ids, calls, strict=True)), dict(zip(ids, routes, strict=True)))
    for client_id in ctx.clients.values():
        await _client(ctx, found, client_id, period)
    await _tables(ctx, found)
    await _kafka(ctx, found)
    found.mailbox = observe.mailbox(ctx.stack.maildir)
    found.stale = await stale_clocks(ctx, within=5)
    return found


async def _each(items: Iterable[UUID], read: Callable[[UUID], Awaitable[T]]) -> list[T]:
    slots = asyncio.Semaphore(READERS)

    async def one(item: UUID) -> T:
        async with slots:
            return await read(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _client(ctx: Context, found: Evidence, client_id: UUID, period: str) -> None:
    listed = await _read(ctx, found, "calls", f"/calls?client_id={client_id}&limit=1000")
    found.listed |= {UUID(c["call_id"]) for c in listed or []}
    sent = await _read(ctx, found, "notify", f"/clients/{client_id}/notifications?limit=1000")
    found.notifications += sent or []
    for summary in await _read(ctx, found, "billing", f"/invoices?client_id={client_id}") or []:
        if summary["purpose"] != "monthly":
            continue
        invoice = await _read(ctx, found, "billing", f"/invoices/{summary['invoice_id']}")
        if invoice is not None:
            found.invoices.append(invoice)
            found.replays[invoice["invoice_id"]] = await _replay(ctx, client_id, period)


async def _read(ctx: Context, found: Evidence, service: str, path: str) -> Any:
    answer = await ctx.driver.get(ctx.url(service, path), f"GET {service} {path.split('?')[0]}")
    if not answer.ok:
        found.unread.append(f"{service} {path}: {answer.describe()} {answer.body}"[:300])
        return None
    return answer.body


async def _replay(ctx: Context, client_id: UUID, period: str) -> Answer:
    body = {"client_id": str(client_id), "period": period}
    return await ctx.driver.send("POST", ctx.url("billing", "/replays"), "POST /replays", body)


async def _tables(ctx: Context, found: Evidence) -> None:
    try:
        async with observe.database(ctx.stack.dsn) as conn:
            found.routed_events = await observe.routed_counts(conn)
            found.digests = await observe.digests(conn)
            found.outbox = await observe.outbox_rows(conn)
            found.queued = await observe.send_queue(conn)
    except DB_ERRORS as exc:
        found.unread.append(f"database: {exc!r}")


async def _kafka(ctx: Context, found: Evidence) -> None:
    try:
        found.dead_letters = await observe.dead_letters(ctx.stack.bootstrap)
    except KAFKA_ERRORS as exc:
        found.unread.append(f"kafka: {exc!r}")
