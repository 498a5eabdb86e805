"""A service's event store inside one PostgreSQL transaction that the test rolls back.

For in-process service-layer tests: the store's "pool" hands out the test's one connection,
so the service's own transactions become savepoints and nothing outlives the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import asyncpg

from libs.events.envelope import Service
from libs.platform.db import Connection, Migration, OneConnection, migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore


class RolledBackStore(EventStore):
    """A service's event store on the test's one connection; `conn` is that connection."""

    def __init__(self, conn: Connection, schema: str, service: Service, prefix: str) -> None:
        pool: Any = OneConnection(conn)
        super().__init__(pool, schema=schema, service=service, prefix=prefix)
        self.conn = conn


@asynccontextmanager
async def rolled_back_store(
    dsn: str, service: Service, migrations: Sequence[Migration], prefix: str = "inproc"
) -> AsyncIterator[RolledBackStore]:
    """The service's store and tables in a fresh schema, all rolled back at the end."""
    conn = await asyncpg.connect(dsn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        schema = f"t{uuid4().hex[:10]}_{service}"
        await migrate(conn, schema, (*PLUMBING_MIGRATIONS, *migrations))
        yield RolledBackStore(conn, schema, service, prefix)
    finally:
        await transaction.rollback()
        await conn.close()
