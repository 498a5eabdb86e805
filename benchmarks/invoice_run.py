"""Time of billing's monthly invoice run on a real PostgreSQL, against reading its rows once.

Billing's state is brought to N clients with M calls each in November 2026 the way the
service gets it: every intake, calls and notify event (registration, billing details, calls,
one digest per client and day, 1% of calls marked non-billable) handed to billing's own
consumer handlers, each with a log position, one savepoint per event. That is set-up, not
measured. Then, measured in the same run on the same database:

- baseline: one plain `SELECT` of every row the run reads (each client's kept events, the
  clients table), fetched into Python, no decoding: the floor of any run that reads its input
  from the database;
- in memory: decoding those rows, folding them and `run_period` for every client (no numbers,
  no documents): what the pure billing computation costs;
- the invoice run: `commands.run_invoices` for the month, the real command path with mail on:
  numbers, InvoiceIssued and InvoiceSent appended with their outbox rows, the read model,
  every invoice's PDF and UBL rendered and its mail queued in `outgoing`;
- a second run of the same month, which must issue nothing.

The run's ratio is its time over the baseline's. With `--profile FILE` the first run is
profiled with cProfile (slower) and the top entries printed.

    ./run python benchmarks/invoice_run.py --clients 1000 --calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from libs.devstack.postgres import LocalPostgres
from libs.events import (
    CallMarkedNonBillable,
    CallReceived,
    ClientRegistered,
    EmailHandling,
    Event,
    NotificationPreferences,
    NotificationSent,
    PerCallPlan,
    decode,
    new_id,
)
from libs.events.catalogue import topic_for
from libs.events.envelope import Actor
from libs.events.intake import BillingDetailsChanged
from libs.platform.consumer import HandlerContext
from libs.platform.db import create_pool, migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from services.billing import commands
from services.billing.commands import RunResult
from services.billing.domain.documents import run_period
from services.billing.domain.ledger import client_facts
from services.billing.migrations import MIGRATIONS
from services.billing.reactions import handlers, input_topics
from services.billing.settings import BillingSettings

PERIOD = "2026-11"
RUN_AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
REGISTERED_AT = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
PARTITIONS = 6
LANGUAGES = ("nl", "en", "de", "fr")
STAFF = Actor(kind="staff", id="bench-staff")


def working_days() -> list[date]:
    """November 2026's weekdays."""
    first = date(2026, 11, 1)
    days = (first + timedelta(days=n) for n in range(30))
    return [d for d in days if d.weekday() < 5]


def client_events(n: int, calls: int) -> Iterator[Event]:
    """Client n's history as intake, calls and notify emit it."""
    client = new_id()
    email = f"admin{n}@client{n}.nl"
    handling = EmailHandling(enabled=True, monthly_fee_cents=2500) if n % 10 == 0 else None
    yield ClientRegistered(
        client_id=client, occurred_at=REGISTERED_AT, name=f"Client {n}", contact_email=email,
        language=LANGUAGES[n % len(LANGUAGES)], plan=PerCallPlan(),
        notification=NotificationPreferences(recipients=(email,)),
        email_handling=handling or EmailHandling(),
    )  # fmt: skip
    yield BillingDetailsChanged(
        client_id=client, occurred_at=REGISTERED_AT, legal_name=f"Client {n} B.V.",
        address_lines=(f"Dorpsstraat {n % 200 + 1}",), postcode="1234 AB", city="Utrecht",
        vat_number=f"NL{n:09d}B01", kvk_number=f"{10_000_000 + n}",
    )  # fmt: skip
    yield from _month_of_calls(client, email, calls)


def _month_of_calls(client: UUID, email: str, calls: int) -> Iterator[Event]:
    days = working_days()
    per_day = [calls // len(days) + (1 if i < calls % len(days) else 0) for i in range(len(days))]
    k = 0
    for day, count in zip(days, per_day, strict=True):
        received = []
        for i in range(count):
            at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(minutes=7 * i)
            call = CallReceived(
                client_id=client, occurred_at=at, call_id=new_id(), dialled_number="+31851234567",
                caller_number=f"+316{k:08d}", received_at=at, book_version=1, office_open=True,
            )  # fmt: skip
            received.append(call)
            yield call
            if k % 100 == 99:
                yield CallMarkedNonBillable(client_id=client, occurred_at=at, call_id=call.call_id,
                                            reason="wrong_number")  # fmt: skip
            k += 1
        if received:
            yield _digest(client, email, day, received)


def _digest(client: UUID, email: str, day: date, calls: list[CallReceived]) -> NotificationSent:
    at = datetime(day.year, day.month, day.day, 17, 30, tzinfo=UTC)
    return NotificationSent(
        client_id=client, occurred_at=at, notification_id=new_id(), channel="email",
        kind="daily_digest", recipients=(email,), dedupe_key=f"digest-{client}-{day}",
        call_ids=tuple(c.call_id for c in calls), message_id=f"<digest-{client}-{day}@bench>",
    )  # fmt: skip


class Positions:
    """Log positions as Kafka would give them: key = client, six partitions per topic."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.next: dict[tuple[str, int], int] = {}

    def of(self, event: Event) -> tuple[str, int, int]:
        """The (topic, partition, offset) the event is read at."""
        topic = topic_for(event.service, self.prefix)
        partition = zlib.crc32(event.client_id.bytes) % PARTITIONS
        offset = self.next.get((topic, partition), 0)
        self.next[(topic, partition)] = offset + 1
        return topic, partition, offset


async def seed(store: EventStore, clients: int, calls: int, prefix: str) -> int:
    """Hand every client's history to billing's consumer handlers; returns the events given."""
    positions = Positions(prefix)
    histories = [[(e, positions.of(e)) for e in client_events(n, calls)] for n in range(clients)]
    react = handlers(BillingSettings())
    limit = asyncio.Semaphore(4)

    async def consume(history: list[tuple[Event, tuple[str, int, int]]]) -> None:
        async with limit, store.transaction() as conn:
            for event, position in history:
                ctx = HandlerContext(conn, store, lambda: RUN_AT, position=position)
                async with conn.transaction():
                    await react[event.type](event, ctx)

    await asyncio.gather(*(consume(h) for h in histories))
    return sum(len(h) for h in histories)


async def baseline(pool: asyncpg.Pool, schema: str) -> tuple[float, list[asyncpg.Record]]:
    """Seconds to read every kept event and client row with one plain SELECT each."""
    started = time.perf_counter()
    rows = await pool.fetch(
        f'SELECT client_id, payload::text AS payload, topic, partition, "offset" '
        f"FROM {schema}.history"
    )
    await pool.fetch(f"SELECT * FROM {schema}.clients")
    return time.perf_counter() - started, list(rows)


def in_memory(rows: list[asyncpg.Record]) -> float:
    """Seconds to decode the rows, fold them per client and compute every client's month."""
    started = time.perf_counter()
    by_client: dict[UUID, list[Event]] = {}
    for row in rows:
        by_client.setdefault(row["client_id"], []).append(decode(row["payload"]))
    for client_id, events in by_client.items():
        run_period(client_facts(events, client_id), PERIOD)
    return time.perf_counter() - started


async def invoice_run(
    store: EventStore, prefix: str, profile: str | None
) -> tuple[float, float, list[RunResult]]:
    """Seconds (wall clock and this process's CPU) of `run_invoices` for the month, the real
    command path with mail on."""
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    results = await commands.run_invoices(
        store, PERIOD, None, RUN_AT, input_topics(prefix), STAFF, BillingSettings()
    )
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    return seconds, cpu, results


async def check(pool: asyncpg.Pool, schema: str, clients: int, results: list[RunResult]) -> None:
    """Every client got exactly one invoice, one InvoiceSent and one queued mail."""
    issued = sum(1 for r in results if r.outcome == "issued")
    counts = await pool.fetchrow(
        f"SELECT (SELECT count(*) FROM {schema}.documents WHERE period = $1) AS documents, "
        f"(SELECT count(*) FROM {schema}.events WHERE event_type = 'InvoiceIssued') AS issued, "
        f"(SELECT count(*) FROM {schema}.events WHERE event_type = 'InvoiceSent') AS sent, "
        f"(SELECT count(*) FROM {schema}.outgoing) AS mails, "
        f"(SELECT count(*) FROM {schema}.outbox) AS outbox",
        PERIOD,
    )
    assert counts is not None
    expected = {"documents": clients, "issued": clients, "sent": clients, "mails": clients}
    found = {key: counts[key] for key in expected}
    if issued != clients or found != expected:
        raise SystemExit(f"wrong run: {issued} issued, {found}, expected {expected}")


async def run(clients: int, calls: int, profile: str | None, home: Path) -> None:
    """Start (or use) PostgreSQL, seed, measure, print the report."""
    postgres = LocalPostgres(home / "pg")
    dsn = os.environ.get("DATABASE_URL") or postgres.start()
    prefix = f"bench{uuid4().hex[:6]}"
    schema = f"{prefix}_billing"
    pool = await create_pool(dsn, max_size=10)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, (*PLUMBING_MIGRATIONS, *MIGRATIONS))
        store = EventStore(pool, schema=schema, service="billing", prefix=prefix)
        started = time.perf_counter()
        events = await seed(store, clients, calls, prefix)
        print(f"seeded {clients} clients, {events} events through billing's handlers "
              f"in {time.perf_counter() - started:.1f} s (not measured)")  # fmt: skip
        await pool.execute(f"VACUUM ANALYZE {schema}.history")
        load = os.getloadavg()[0]
        base, rows = await baseline(pool, schema)
        memory = in_memory(rows)
        seconds, cpu, results = await invoice_run(store, prefix, profile)
        await check(pool, schema, clients, results)
        again, _, repeat = await invoice_run(store, prefix, None)
        if any(r.outcome != "already_issued" for r in repeat):
            raise SystemExit("the second run issued something")
        report(clients, len(rows), {"base": base, "memory": memory, "run": seconds, "again": again})
        print(f"  invoice run CPU of this process: {cpu:.1f} s (PostgreSQL's not included); "
              f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after "
              f"on {os.cpu_count()} CPUs")  # fmt: skip
        if os.environ.get("DATABASE_URL"):  # an outside database keeps nothing of the run
            await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await pool.close()
        postgres.stop()


def report(clients: int, rows: int, seconds: dict[str, float]) -> None:
    """Print the times, per client, and the ratio of each to the baseline."""
    print(f"clients: {clients}, rows read by the run: {rows}")
    for key, name in (
        ("base", "baseline  one SELECT of the run's rows"),
        ("memory", "in memory decode + fold + run_period"),
        ("run", "invoice run (PDF, UBL, mail queued)"),
        ("again", "second run (issues nothing)"),
    ):
        value = seconds[key]
        print(f"  {name:40s}: {value:8.2f} s  {1000 * value / clients:7.1f} ms/client  "
              f"ratio to baseline {value / seconds['base']:7.1f}")  # fmt: skip


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=100, help="calls per client in the month")
    parser.add_argument("--profile", help="write a cProfile of the first run to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as home:
        asyncio.run(run(args.clients, args.calls, args.profile, Path(home)))


if __name__ == "__main__":
    main()
