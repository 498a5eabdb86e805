"""A real Dovecot for the inbox tests: started once per session, a fresh folder per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from libs.devstack.dovecot import LocalDovecot
from tests.support.dovecot import dovecot_server


@pytest.fixture(scope="session")
async def dovecot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalDovecot]:
    """The session's Dovecot, started on first use, once."""
    async for server in dovecot_server(tmp_path_factory.mktemp("dovecot")):
        yield server


@pytest.fixture
async def folder(dovecot: LocalDovecot) -> str:
    """A new, empty folder of the test user, so each test starts from nothing."""
    name = f"test-{uuid4().hex[:12]}"
    dovecot.create_folder(name)
    return name
