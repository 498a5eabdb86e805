"""The docker compose plugin for the compose tests, built while the rest of the suite runs.

Building it takes minutes the first time on a machine (then it is cached), so when a selected
test asks for the `compose_plugin` fixture the build starts in the background, at low CPU
priority, as soon as the tests are collected, and the tests that need it run last.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from libs.devstack.compose import ComposePlugin, ensure_compose_plugin

_BUILD: pytest.StashKey[Future[ComposePlugin]] = pytest.StashKey()
_FIXTURE = "compose_plugin"


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start building the plugin when a selected test needs it, and run those tests last."""
    needing = [item for item in items if _FIXTURE in getattr(item, "fixturenames", ())]
    if not needing or _BUILD in config.stash or config.option.collectonly:
        return
    builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose-plugin")
    config.stash[_BUILD] = builder.submit(ensure_compose_plugin, nice=True)
    builder.shutdown(wait=False)
    others = [item for item in items if _FIXTURE not in getattr(item, "fixturenames", ())]
    items[:] = others + needing


@pytest.fixture(scope="session")
def compose_plugin(pytestconfig: pytest.Config) -> ComposePlugin:
    """The pinned docker compose plugin (built on first use, then cached)."""
    build = pytestconfig.stash.get(_BUILD, None)
    return build.result() if build is not None else ensure_compose_plugin()
