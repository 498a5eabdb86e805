"""The docker compose plugin for the compose tests."""

from __future__ import annotations

import pytest

from libs.devstack.compose import ComposePlugin, ensure_compose_plugin


@pytest.fixture(scope="session")
def compose_plugin(tmp_path_factory: pytest.TempPathFactory) -> ComposePlugin:
    """The pinned docker compose plugin, linked into a Docker config folder of the session."""
    return ensure_compose_plugin(tmp_path_factory.mktemp("docker-config"))
