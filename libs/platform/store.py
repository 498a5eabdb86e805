"""The event store of one service: events, outbox and inbox in the service's schema.

An append checks the stream's expected version, writes the events and their outbox rows in one
transaction, and wakes the relay. A concurrent append at the same version loses with a
ConcurrencyConflict; nothing is ever overwritten. `EventStorePort` is the backend-neutral part
that command handlers need; libs/platform/memory_store.py keeps the same contract in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from libs.errors import Rejected
from libs.events.catalogue import decode, encode, topic_for
from libs.events.envelope import Event, Service
from libs.platform.db import Connection, Migration
from libs.platform.metrics import EVENTS_APPENDED

PLUMBING_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_event_store",
        """
        CREATE TABLE {schema}.events (
            position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            stream_id text NOT NULL,
            stream_version integer NOT NULL CHECK (stream_version > 0),
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            client_id uuid NOT NULL,
            occurred_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            payload jsonb NOT NULL,
            UNIQUE (stream_id, stream_version)
        );
        CREATE INDEX ON {schema}.events (client_id, occurred_at);
        CREATE TABLE {schema}.outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            topic text NOT NULL,
            key text NOT NULL,
            value bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE {schema}.inbox (
            consumer text NOT NULL,
            event_id uuid NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            "offset" bigint NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        );
        """,
    ),
    Migration(
        "0002_outbox_parked",
        """
        CREATE TABLE {schema}.outbox_parked (
            id bigint PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            topic text NOT NULL,
            key text NOT NULL,
            value bytea NOT NULL,
            created_at timestamptz NOT NULL,
            parked_at timestamptz NOT NULL DEFAULT now(),
            error text NOT NULL
        );
        """,
    ),
    Migration(
        "0003_idempotency_keys",
        """
        CREATE TABLE {schema}.idempotency_keys (
            credential text NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            status integer,
            headers jsonb NOT NULL,
            body bytea NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (credential, key)
        );
        CREATE INDEX ON {schema}.idempotency_keys (expires_at);
        COMMENT ON COLUMN {schema}.idempotency_keys.status
            IS 'The kept answer''s status; NULL while a reserved request runs';
        """,
    ),
    Migration(
        "0004_api_keys",
        """
        CREATE TABLE {schema}.api_keys (
            key_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            role text NOT NULL,
            name text NOT NULL,
            secret_sha256 text NOT NULL,
            issued_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        CREATE INDEX ON {schema}.api_keys (client_id);
        COMMENT ON TABLE {schema}.api_keys
            IS 'API keys as intake issued them (its topic): every service checks keys itself';
        """,
    ),
)


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream since the caller read it."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        seen = "a concurrent append" if actual is None else f"version {actual}"
        super().__init__(f"stream {stream_id}: expected version {expected}, found {seen}")


class WrongService(ValueError):
    """A service tried to append an event another service owns."""


DEFAULT_MAX_EVENT_BYTES = 900 * 1024
"""Kafka takes records up to about 1 MiB by default; this leaves room for key and headers."""


class EventTooLarge(Rejected):
    """An event larger than the broker takes in one record: refused before anything is stored."""


@dataclass(frozen=True)
class StreamAppend:
    """Events to append to one stream after the version the writer read (None: at the end)."""

    stream_id: str
    expected_version: int | None
    events: Sequence[Event]


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from the store, with its place in the stream and the log."""

    position: int
    stream_id: str
    stream_version: int
    event: Event


class EventStorePort(Protocol):
    """What command handlers need of an event store, whichever backend keeps the events."""

    @property
    def service(self) -> Service:
        """The service whose events this store accepts."""
        ...

    async def append(
        self, stream_id: str, expected_version: int | None, events: Sequence[Event]
    ) -> int:
        """Append after `expected_version` (None: at the end); returns the new version."""
        ...

    async def version(self, stream_id: str) -> int:
        """The stream's current version (0 for a stream with no events)."""
        ...

    async def load(self, stream_id: str) -> list[StoredEvent]:
        """Every event of a stream, in order."""
        ...

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events of every stream after a global position, in append order."""
        ...


def check_owner(service: Service, event: Event) -> None:
    """Refuse an event another service owns: a service appends only its own facts."""
    if event.service != service:
        raise WrongService(f"{service} cannot append {event.type} ({event.service})")


def encoded_within(event: Event, limit: int) -> bytes:
    """The event's wire form, or EventTooLarge when it is longer than `limit` bytes.

    An event Kafka would refuse must never reach the outbox: the relay could not publish it.
    """
    data = encode(event)
    if len(data) > limit:
        raise EventTooLarge(
            f"{event.type} would be {len(data)} bytes; at most {limit} bytes can be published"
        )
    return data


def outbox_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes the relay of a schema."""
    return f"{schema}_outbox"


class EventStore:
    """Append-only event store with a transactional outbox, in one PostgreSQL schema."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str,
        service: Service,
        prefix: str,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.pool, self.schema, self.service, self.prefix = pool, schema, service, prefix
        self.max_event_bytes = max_event_bytes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection inside a transaction, for appends together with other writes."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[Event],
        *,
        conn: Connection | None = None,
    ) -> int:
        """Append events after `expected_version` (None: at the end); returns the new version."""
        (version,) = await self.append_many([StreamAppend(stream_id, expected_version, events)],
                                            conn=conn)  # fmt: skip
        return version

    async def append_many(
        self, appends: Sequence[StreamAppend], *, conn: Connection | None = None
    ) -> list[int]:
        """Append to several streams in one statement; returns each stream's new version.

        All or nothing: when one stream is not at its expected version, ConcurrencyConflict
        names it and nothing is appended to any. A stream appears at most once.
        """
        if conn is None:
            async with self.transaction() as tx:
                return await self.append_many(appends, conn=tx)
        streams = [a.stream_id for a in appends]
        if len(set(streams)) != len(streams):
            raise ValueError("a stream appears more than once in one append_many")
        events = [e for a in appends for e in a.events]
        for event in events:
            check_owner(self.service, event)
        payloads = [encoded_within(e, self.max_event_bytes).decode() for e in events]
        current = {a.stream_id: await self.version(a.stream_id, conn=conn)
                   for a in appends if not a.events}  # fmt: skip
        writing = [a for a in appends if a.events]
        if writing:
            current |= await self._insert(conn, writing, payloads)
        for a in appends:
            if a.expected_version is not None and a.expected_version != current[a.stream_id]:
                raise ConcurrencyConflict(a.stream_id, a.expected_version, current[a.stream_id])
        for event in events:
            EVENTS_APPENDED.labels(self.service, event.type).inc()
        return [current[a.stream_id] + len(a.events) for a in appends]

    async def _insert(
        self, conn: Connection, appends: Sequence[StreamAppend], payloads: list[str]
    ) -> dict[str, int]:
        """Run the insert; each stream's version before it (nothing inserted on a mismatch)."""
        try:
            rows = await conn.fetch(self._insert_sql(), *self._insert_args(appends, payloads))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name and "stream" in exc.constraint_name:
                first = appends[0]
                named = ", ".join(a.stream_id for a in appends)
                raise ConcurrencyConflict(named, first.expected_version or 0, None) from exc
            raise
        return {row["stream_id"]: row["current"] for row in rows}

    def _insert_sql(self) -> str:
        """Version checks, events, outbox rows and the relay's wake-up in one round trip.

        Nothing is inserted unless every stream is at its expected version (NULL: any); a
        concurrent append at the same version fails on the unique (stream, version) key.
        Each stream's current version comes back, so the caller tells which one was behind.
        """
        return f"""
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[],
                                     $5::uuid[], $6::timestamptz[], $7::text[])
                    WITH ORDINALITY AS t(stream_id, expected, event_id, event_type, client_id,
                                         occurred_at, payload, n)
            ), cur AS (
                SELECT s.stream_id, s.expected, coalesce(
                    (SELECT max(e.stream_version) FROM {self.schema}.events e
                     WHERE e.stream_id = s.stream_id), 0) AS v
                FROM (SELECT DISTINCT stream_id, expected FROM input) s
            ), new AS (
                SELECT cur.v + row_number() OVER (PARTITION BY i.stream_id ORDER BY i.n)
                           AS version, i.*
                FROM input i JOIN cur USING (stream_id)
                WHERE NOT EXISTS (SELECT 1 FROM cur
                                  WHERE cur.expected IS NOT NULL AND cur.expected <> cur.v)
            ), stored AS (
                INSERT INTO {self.schema}.events (stream_id, stream_version, event_id,
                    event_type, client_id, occurred_at, payload)
                SELECT stream_id, version, event_id, event_type, client_id, occurred_at,
                       payload::jsonb
                FROM new ORDER BY n
            ), queued AS (
                INSERT INTO {self.schema}.outbox (event_id, event_type, topic, key, value)
                SELECT event_id, event_type, $8, client_id::text, convert_to(payload, 'UTF8')
                FROM new ORDER BY n
            )
            SELECT cur.stream_id, cur.v AS current, pg_notify($9, '') FROM cur
        """

    def _insert_args(self, appends: Sequence[StreamAppend], payloads: list[str]) -> list[object]:
        events = [(a, e) for a in appends for e in a.events]
        return [
            [a.stream_id for a, _ in events],
            [a.expected_version for a, _ in events],
            [e.event_id for _, e in events],
            [e.type for _, e in events],
            [e.client_id for _, e in events],
            [e.occurred_at for _, e in events],
            payloads,
            topic_for(events[0][1].service, self.prefix),
            outbox_channel(self.schema),
        ]

    async def version(self, stream_id: str, *, conn: Connection | None = None) -> int:
        """The stream's current version (0 for a stream with no events)."""
        query = (
            f"SELECT coalesce(max(stream_version), 0) FROM {self.schema}.events "
            "WHERE stream_id = $1"
        )
        if conn is None:
            return int(await self.pool.fetchval(query, stream_id))
        return int(await conn.fetchval(query, stream_id))

    async def load(self, stream_id: str, *, conn: Connection | None = None) -> list[StoredEvent]:
        """Every event of a stream, in order (as `conn`'s transaction sees it, when given)."""
        query = (
            f"SELECT position, stream_id, stream_version, payload FROM {self.schema}.events "
            "WHERE stream_id = $1 ORDER BY stream_version"
        )
        rows = await (self.pool if conn is None else conn).fetch(query, stream_id)
        return [_stored(row) for row in rows]

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events of every stream after a global position, in append order."""
        rows = await self.pool.fetch(
            f"SELECT position, stream_id, stream_version, payload FROM {self.schema}.events "
            "WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return [_stored(row) for row in rows]


def _stored(row: asyncpg.Record) -> StoredEvent:
    payload = row["payload"]
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return StoredEvent(row["position"], row["stream_id"], row["stream_version"], decode(data))
