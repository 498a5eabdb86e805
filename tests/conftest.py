"""Session-wide real infrastructure: a Kafka broker, a PostgreSQL server and a Keycloak.

Kafka and PostgreSQL are started here unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name
external ones; Keycloak only for a session whose tests ask for it.
Every test gets its own topic prefix and database schemas, so tests never see each other.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.postgres import LocalPostgres
from tests.support.keycloak import Keycloak, start_keycloak
from tests.support.processes import free_port
from tests.support.stack import Infrastructure, World, private_world

__all__ = ["Infrastructure", "World"]  # the tests that type their fixtures import these here

LONG_FIRST = ("tests/security/test_access_matrix.py", "tests/routing/test_feed_process.py")
"""Files that start whole stacks and would otherwise be collected last, run first instead:
the two test processes take whole files in the order collected, and one of these left for the
end keeps one process busy alone while the other has nothing left to do. (The other long
files, the browser, chaos and end-to-end ones, already come early; moving every long file to
the front would start two stacks at once.)"""


def _long_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::")[0]
    return next((n for n, prefix in enumerate(LONG_FIRST) if path.startswith(prefix)),
                len(LONG_FIRST))  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long files first, everything else in its usual order (the sort is stable)."""
    items.sort(key=_long_rank)


@pytest.fixture(scope="session")
def tmp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the session's broker and database files."""
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def database_url(tmp_home: Path) -> Iterator[str]:
    """The session's PostgreSQL: external if DATABASE_URL is set, else an embedded one."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = LocalPostgres(tmp_home / "pg")
    dsn = server.start()
    yield dsn
    server.stop()


@pytest.fixture(scope="session")
async def infra(tmp_home: Path, database_url: str) -> AsyncIterator[Infrastructure]:
    """The session's broker and database, started once."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield Infrastructure(external, database_url, None)
        return
    kafka = LocalKafka(
        tmp_home / "kafka",
        port=free_port(),
        controller_port=free_port(),
        cache_dir=default_cache_dir(),
    )
    await kafka.start()
    yield Infrastructure(kafka.bootstrap_servers, database_url, kafka)
    await kafka.stop()


@pytest.fixture(scope="session")
async def keycloak(tmp_home: Path) -> AsyncIterator[Keycloak]:
    """The session's Keycloak with the frontdesk realm, started on first use, once."""
    server = await start_keycloak(tmp_home / "keycloak", free_port(), default_cache_dir())
    yield server
    await server.server.stop()


@pytest.fixture
async def world(infra: Infrastructure, tmp_path: Path) -> AsyncIterator[World]:
    """Fresh topics (6 partitions, kept forever) and schemas for one test."""
    async with private_world(infra, tmp_path) as test_world:
        yield test_world


@pytest.fixture
async def db(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool to the session's database."""
    pool = await asyncpg.create_pool(infra.dsn, min_size=1, max_size=20)
    assert pool is not None
    yield pool
    await pool.close()
