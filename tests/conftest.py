"""Session-wide real infrastructure: a Kafka broker and a PostgreSQL server.

Both are started here unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name external ones.
Every test gets its own topic prefix and database schemas, so tests never see each other.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.postgres import LocalPostgres
from libs.devstack.topics import ensure_topics
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.platform.settings import Settings
from tests.support.processes import ServiceProcess, free_port


@dataclass
class Infrastructure:
    """Where the session's broker and database are, and the broker itself when local."""

    bootstrap: str
    dsn: str
    kafka: LocalKafka | None


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


@dataclass
class World:
    """One test's private slice of the infrastructure: topic prefix, schemas, processes."""

    infra: Infrastructure
    prefix: str
    home: Path
    processes: list[ServiceProcess] = field(default_factory=list)

    def schema(self, name: str) -> str:
        """A schema name private to this test."""
        return f"{self.prefix}_{name}"

    def topic(self, service: str) -> str:
        """The event topic of a service, under this test's prefix."""
        return topic_for(service, self.prefix)  # type: ignore[arg-type]

    def settings(self, service: str, schema: str, **env: str) -> Settings:
        """The settings a service process of this test reads from its environment."""
        values = {
            k.removeprefix("FRONTDESK_").lower(): v for k, v in self.env(service, schema).items()
        }
        values["DATABASE_URL"] = values.pop("database_url")
        values["KAFKA_BOOTSTRAP_SERVERS"] = values.pop("kafka_bootstrap_servers")
        return Settings.model_validate({**values, **env})

    def process(self, target: str, service: str, schema: str, **env: str) -> ServiceProcess:
        """A service process wired to this test's infrastructure (not yet started)."""
        log = self.home / f"{schema}-{len(self.processes)}.log"
        proc = ServiceProcess(target, {**self.env(service, schema), **env}, log)
        self.processes.append(proc)
        return proc

    def env(self, service: str, schema: str) -> dict[str, str]:
        """Environment variables that configure a service process for this test."""
        return {
            "FRONTDESK_SERVICE": service,
            "FRONTDESK_DB_SCHEMA": self.schema(schema),
            "FRONTDESK_TOPIC_PREFIX": self.prefix,
            "DATABASE_URL": self.infra.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.bootstrap,
            "FRONTDESK_RELAY_POLL_SECONDS": "0.2",
            "FRONTDESK_CONSUMER_RETRY_BASE_SECONDS": "0.05",
        }


@pytest.fixture
async def world(infra: Infrastructure, tmp_path: Path) -> AsyncIterator[World]:
    """Fresh topics (6 partitions, kept forever) and schemas for one test."""
    prefix = f"t{uuid4().hex[:10]}"
    topics = [topic_for(s, prefix) for s in ALL_SERVICES]
    topics += [dead_letter_topic(s, prefix) for s in ALL_SERVICES]
    await ensure_topics(infra.bootstrap, topics)
    test_world = World(infra, prefix, tmp_path)
    yield test_world
    for proc in test_world.processes:
        proc.stop()


@pytest.fixture
async def db(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool to the session's database."""
    pool = await asyncpg.create_pool(infra.dsn, min_size=1, max_size=20)
    assert pool is not None
    yield pool
    await pool.close()
