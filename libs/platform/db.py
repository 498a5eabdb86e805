"""PostgreSQL access: pools and ordered, idempotent migrations per service schema."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection of its own or one borrowed from a pool: both work for queries."""


@dataclass(frozen=True)
class Migration:
    """One step of a schema; `sql` may use {schema} for the service's schema name."""

    id: str
    sql: str


def advisory_key(*parts: str) -> int:
    """A stable 64-bit advisory-lock key for a name (e.g. a schema and a purpose)."""
    digest = zlib.crc32("/".join(parts).encode())
    return digest | (0x5A << 32)


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool; the caller closes it.

    A connection that died with its server is replaced on the next acquire; connecting gives
    up after a few seconds, so a request meets a 503 rather than a long wait.
    """
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=5)
    assert pool is not None
    return pool


async def migrate(conn: Connection, schema: str, migrations: Sequence[Migration]) -> int:
    """Apply the migrations not yet applied to `schema`, in order; returns how many ran."""
    lock = advisory_key(schema, "migrations")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
            "(id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["id"] for r in await conn.fetch(f"SELECT id FROM {schema}.schema_migrations")}
        todo = [m for m in migrations if m.id not in done]
        for migration in todo:
            await conn.execute(migration.sql.format(schema=schema))
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (id) VALUES ($1)", migration.id
            )
    return len(todo)


class OneConnection:
    """A pool that hands out one connection: all that uses it joins that connection's
    transaction (a transaction begun on it is a savepoint)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        """The one connection."""
        yield self.conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)
