"""One intake process per test module, on its own topics and schema; clients never collide."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.credentials import STAFF
from tests.support.processes import ServiceProcess
from tests.support.stack import Infrastructure, World, private_world

INTAKE_APP = "services.intake.app:create_app"


@pytest.fixture(scope="module")
async def intake_world(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """A private slice of the infrastructure shared by the tests of one module."""
    async with private_world(infra, tmp_path_factory.mktemp("intake")) as world:
        yield world


@pytest.fixture(scope="module")
def intake(intake_world: World) -> ServiceProcess:
    """A running intake service process (started once per module: it takes a second or two)."""
    proc = intake_world.process(INTAKE_APP, "intake", "intake")
    proc.start()
    return proc


@pytest.fixture
async def http(intake: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the intake process, signed in as staff (the bureau's automation)."""
    async with httpx.AsyncClient(base_url=intake.url, timeout=30, headers=STAFF) as client:
        yield client
