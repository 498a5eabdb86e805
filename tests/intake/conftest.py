"""One intake process per test module, on its own topics and schema; clients never collide."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from libs.devstack.topics import ensure_topics
from libs.events.catalogue import dead_letter_topic, topic_for
from tests.conftest import Infrastructure, World
from tests.support.processes import ServiceProcess

INTAKE_APP = "services.intake.app:create_app"


@pytest.fixture(scope="module")
async def intake_world(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """A private slice of the infrastructure shared by the tests of one module."""
    prefix = f"t{uuid4().hex[:10]}"
    await ensure_topics(
        infra.bootstrap, [topic_for("intake", prefix), dead_letter_topic("intake", prefix)]
    )
    world = World(infra, prefix, Path(tmp_path_factory.mktemp("intake")))
    yield world
    for proc in world.processes:
        proc.stop()


@pytest.fixture(scope="module")
def intake(intake_world: World) -> ServiceProcess:
    """A running intake service process (started once per module: it takes a second or two)."""
    proc = intake_world.process(INTAKE_APP, "intake", "intake")
    proc.start()
    return proc


@pytest.fixture
async def http(intake: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the intake process."""
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        yield client


def fresh_number() -> str:
    """A valid Dutch 085 number no other test uses (with overwhelming probability)."""
    return f"+3185{random.randrange(10**7):07d}"
