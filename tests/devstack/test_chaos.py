"""A small fixed-seed chaos run: the whole stack under SIGKILLs, a Kafka stop and a PostgreSQL
restart still routes, mails and bills every call exactly once (the README's small run)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from libs.devstack.chaos import ChaosOptions, ChaosRun, run_chaos
from libs.devstack.chaos.report import figures, invariants, log_errors
from libs.devstack.chaos.scenario import EXTERNAL
from tests.support.processes import free_port_offset, free_port_pair

pytestmark = [pytest.mark.infra, pytest.mark.slow]


def rendered(run: ChaosRun) -> str:
    """The run's tables and the errors in its logs, as text for a failure message."""
    out = io.StringIO()
    console = Console(file=out, width=160)
    for table in (figures(run), invariants(run), log_errors(run.home / "logs")):
        console.print(table)
    return out.getvalue()


@pytest.mark.timeout(420)
async def test_a_small_chaos_run_keeps_every_invariant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in EXTERNAL:  # the run breaks its own broker and database, never shared ones
        monkeypatch.delenv(name, raising=False)
    options = ChaosOptions(
        seed=5, calls=36, kills=5, broker_stops=1, pg_restarts=1, home=tmp_path / "stack",
        port_offset=free_port_offset(4100, 9000, 43), kafka_port=free_port_pair(),
    )  # fmt: skip

    run = await run_chaos(options)

    assert run.ok, rendered(run)
    assert run.faults.done["kills"] + run.faults.done["kills_missed"] == 5
    assert (run.faults.done["broker_stops"], run.faults.done["pg_restarts"]) == (1, 1)
    assert len(run.traffic.accepted) + len(run.traffic.unknown) == 36, rendered(run)
    assert _leftovers(tmp_path) == [], "the run left processes running"


def _leftovers(home: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if str(home) in line]
