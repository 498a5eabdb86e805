"""Prometheus's configuration and alert rules pass Debian's promtool, and the alerts fire."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from libs.devstack.prometheus import PrometheusTools, ensure_prometheus
from libs.events.catalogue import ALL_SERVICES
from tests.support.processes import ROOT

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def tools() -> PrometheusTools:
    """promtool and prometheus from Debian's package (fetched into the cache once)."""
    return ensure_prometheus()


def promtool(tools: PrometheusTools, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    """Run promtool in deploy/prometheus; fail the test with its output when it fails."""
    result = subprocess.run(
        [str(tools.promtool), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_promtool_accepts_the_configuration(tools: PrometheusTools, tmp_path: Path) -> None:
    # promtool checks that the scrape credential's file exists: the container's entrypoint
    # writes it, so here the path points at a file of this test
    token = tmp_path / "metrics_token"
    token.write_text("a-scrape-credential")
    config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert config.count("credentials_file: /prometheus/metrics_token") == len(ALL_SERVICES)
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/prometheus/metrics_token", str(token))
    )
    (tmp_path / "alerts.yml").write_text((PROMETHEUS_DIR / "alerts.yml").read_text())
    out = promtool(tools, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS: 1 rule files found" in out


def test_promtool_accepts_the_alert_rules(tools: PrometheusTools) -> None:
    out = promtool(tools, "check", "rules", "alerts.yml")
    assert f"SUCCESS: {len(alerts())} rules found" in out


def test_the_alerts_fire_when_they_should_and_not_before(tools: PrometheusTools) -> None:
    promtool(tools, "test", "rules", "alerts.test.yml")


def test_a_broken_expectation_fails_the_alert_tests(tools: PrometheusTools, tmp_path: Path) -> None:
    test_file = (PROMETHEUS_DIR / "alerts.test.yml").read_text()
    broken = test_file.replace("severity: critical", "severity: info", 1)
    (tmp_path / "alerts.yml").write_text((PROMETHEUS_DIR / "alerts.yml").read_text())
    (tmp_path / "alerts.test.yml").write_text(broken)
    result = subprocess.run(
        [str(tools.promtool), "test", "rules", "alerts.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0


def alerts() -> list[dict[str, object]]:
    """Every alert rule of deploy/prometheus/alerts.yml."""
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_says_how_bad_it_is_and_what_to_do() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]  # type: ignore[index]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]  # type: ignore[arg-type]


def test_the_alerts_the_bureau_asked_for_are_there() -> None:
    names = {rule["alert"] for rule in alerts()}
    asked = {
        "FrontdeskConsumerLagGrowing",
        "FrontdeskDeadLetters",
        "FrontdeskOutboxBacklog",
        "FrontdeskEscalationExhausted",
        "FrontdeskSmtpFailures",
    }
    assert asked <= names


def test_every_alert_is_exercised_by_the_rule_tests() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    untested = {rule["alert"] for rule in alerts()} - tested
    assert not untested, f"no promtool test for {sorted(untested)}"
