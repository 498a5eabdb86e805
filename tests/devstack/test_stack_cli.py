"""The README's start command brings the whole stack up and down again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT, free_port_pair

pytestmark = [pytest.mark.infra]


def test_frontdesk_up_starts_every_service_and_stops_cleanly(tmp_path: Path) -> None:
    kafka_port = free_port_pair()  # the stack's controller listens on kafka_port + 1
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    }
    result = subprocess.run(
        [sys.executable, "-m", "libs.devstack.cli", "up", "--check", "--home", str(tmp_path),
         "--port-offset", "300", "--kafka-port", str(kafka_port)],
        cwd=ROOT, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for service, port in [("intake", 8301), ("calls", 8302), ("billing", 8305)]:
        assert f"{service} API (OpenAPI)" in result.stdout
        assert f"http://127.0.0.1:{port}/docs" in result.stdout
    assert "SMTP" in result.stdout
    assert "Demo client" in result.stdout
    assert "+31851234567" in result.stdout
    assert "Keycloak (admin console)" in result.stdout
    assert "http://127.0.0.1:8480/realms/frontdesk/protocol/openid-connect/token" in result.stdout
    assert "stopped." in result.stdout
    leftovers = [line for line in _ps().splitlines() if str(tmp_path) in line]
    assert leftovers == [], "the stack left processes running"


def _ps() -> str:
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
