"""What the run reads besides the public APIs: outboxes, queues, Kafka offsets, the Maildir.

These are the places a stuck message hides: an outbox row the relay never published, a
consumer group behind its topic, a mail still queued, a record on a dead-letter topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from libs.devstack.smtp import read_maildir
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.platform import kafka
from libs.platform.clock import read_clock
from libs.platform.replay import end_offsets

CLIENT_ID = "frontdesk-chaos"


@asynccontextmanager
async def database(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own (the server may have been restarted since the last one)."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


async def outbox_rows(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows waiting in each service's outbox."""
    return {s: int(await conn.fetchval(f"SELECT count(*) FROM {s}.outbox")) for s in ALL_SERVICES}


async def send_queue(conn: asyncpg.Connection) -> int:
    """Notifications notify still has to send (pending, or claimed and not finished)."""
    sql = "SELECT count(*) FROM notify.outgoing WHERE state IN ('pending', 'sending')"
    return int(await conn.fetchval(sql))


async def known_calls(conn: asyncpg.Connection, call_ids: Iterable[UUID]) -> dict[str, int]:
    """How many of the calls routing has routed and notify has heard of."""
    ids = list(call_ids)
    routed = "SELECT count(*) FROM routing.call_routes WHERE call_id = ANY($1::uuid[])"
    heard = "SELECT count(*) FROM notify.calls WHERE call_id = ANY($1::uuid[])"
    return {
        "routing": int(await conn.fetchval(routed, ids)),
        "notify": int(await conn.fetchval(heard, ids)),
    }


async def routed_counts(conn: asyncpg.Connection) -> Counter[UUID]:
    """CallRouted events in routing's store, per call."""
    rows = await conn.fetch(
        "SELECT (payload->>'call_id')::uuid AS call_id, count(*) AS n FROM routing.events "
        "WHERE event_type = 'CallRouted' GROUP BY 1"
    )
    return Counter({row["call_id"]: int(row["n"]) for row in rows})


@dataclass(frozen=True)
class DigestRow:
    """One digest notify queued: for which client and day, and how far it got."""

    client_id: UUID
    day: str
    state: str
    message_id: str


async def digests(conn: asyncpg.Connection) -> list[DigestRow]:
    """Every daily digest notify queued (its dedupe key ends with the day)."""
    rows = await conn.fetch(
        "SELECT client_id, dedupe_key, state, message_id FROM notify.outgoing "
        "WHERE kind = 'daily_digest'"
    )
    return [
        DigestRow(r["client_id"], r["dedupe_key"].rsplit(":", 1)[1], r["state"], r["message_id"])
        for r in rows
    ]


async def database_clock(dsn: str) -> datetime:
    """The shared simulated clock as the database holds it."""
    async with database(dsn) as conn:
        return await read_clock(conn)


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Records each consumer group has still to commit, on the topics it has committed on."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=CLIENT_ID, request_timeout_ms=5000
    )
    await admin.start()
    try:
        groups = sorted(str(g[0]) for g in await admin.list_consumer_groups())
        committed = {g: await admin.list_consumer_group_offsets(g) for g in groups}
    finally:
        await admin.close()
    ends = await topic_ends(bootstrap, [topic_for(s) for s in ALL_SERVICES])
    lag: dict[str, int] = {}
    for group, offsets in committed.items():
        topics = {tp.topic for tp in offsets}
        lag[group] = sum(
            end - (offsets[tp].offset if tp in offsets else 0)
            for tp, end in ends.items()
            if tp.topic in topics
        )
    return lag


async def topic_ends(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of the topics."""
    consumer = kafka.plain_consumer(bootstrap, client_id=CLIENT_ID)
    await consumer.start()
    try:
        return await end_offsets(consumer, topics)
    finally:
        await consumer.stop()


async def dead_letters(bootstrap: str) -> dict[str, int]:
    """Records on each service's dead-letter topic (they are kept forever)."""
    ends = await topic_ends(bootstrap, [dead_letter_topic(s) for s in ALL_SERVICES])
    found: Counter[str] = Counter()
    for tp, end in ends.items():
        found[tp.topic] += end
    return dict(found)


@dataclass(frozen=True)
class Mailbox:
    """The mails the local SMTP server accepted, by Message-ID."""

    deliveries: Counter[str]
    kinds: dict[str, str]

    @property
    def repeated(self) -> int:
        """Deliveries of a Message-ID seen before (a send repeated after a lost commit)."""
        return sum(n - 1 for n in self.deliveries.values())


def mailbox(maildir: Path) -> Mailbox:
    """Read the Maildir of the stack's SMTP server."""
    received = read_maildir(maildir) if maildir.exists() else []
    deliveries = Counter(m.message_id for m in received)
    kinds = {m.message_id: str(m.message["X-Frontdesk-Kind"]) for m in received}
    return Mailbox(deliveries, kinds)
