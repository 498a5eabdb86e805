"""The Grafana dashboards: generated from code, well formed, and asking only for real metrics.

Here the metrics are those the service modules declare (no I/O); test_observability.py checks
the same queries against the /metrics pages of a running stack and a real Prometheus.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from libs.devstack.dashboards import DASHBOARDS
from libs.devstack.grafana import DATASOURCE, GRID_WIDTH, stale
from libs.events.catalogue import ALL_SERVICES
from tests.support.processes import ROOT
from tests.support.promql import DASHBOARDS as DASHBOARD_DIR
from tests.support.promql import SCRAPE_LABELS, SUFFIXES, Use, all_uses, parse

PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
BOARDS = {d.uid: d for d in DASHBOARDS}
WANTED = {
    "Call volume": "frontdesk-call-volume",
    "Operators and escalations": "frontdesk-operators",
    "Notifications": "frontdesk-notifications",
    "Billing": "frontdesk-billing",
    "Calendars and callbacks": "frontdesk-calendar",
    "Mail handling": "frontdesk-inbox",
    "Event pipeline health": "frontdesk-pipeline",
}


def declared_metrics() -> dict[str, frozenset[str]]:
    """Sample names every service module declares, with their label names."""
    for service in ALL_SERVICES:
        importlib.import_module(f"services.{service}.app")
    names: dict[str, frozenset[str]] = {}
    for collector in list(REGISTRY._collector_to_names):  # label names are kept only here
        if isinstance(collector, MetricWrapperBase):
            base = collector._name
            for suffix in SUFFIXES.get(collector._type, ("",)):
                names[base + suffix] = frozenset(collector._labelnames)
    return names


def load(uid: str) -> dict[str, Any]:
    """A committed dashboard's JSON."""
    loaded: dict[str, Any] = json.loads((DASHBOARD_DIR / f"{uid}.json").read_text())
    return loaded


def test_the_committed_json_is_what_the_code_renders() -> None:
    assert stale(DASHBOARDS, DASHBOARD_DIR) == [], "run `./run frontdesk dashboards`"


def test_the_bureau_has_its_dashboards() -> None:
    titles = {uid: load(uid)["title"] for uid in WANTED.values()}
    for name, uid in WANTED.items():
        assert titles[uid].endswith(name)
        assert BOARDS[uid].answers, f"{name} must say what it answers"


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_panels_are_laid_out_on_the_grid_and_use_the_provisioned_datasource(uid: str) -> None:
    board = load(uid)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        covered = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
        assert panel["datasource"] == DATASOURCE
        assert panel["targets"]
        assert panel["description"]


def test_the_datasource_uid_is_the_one_the_dashboards_name() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (datasource,) = provisioned["datasources"]
    assert datasource["uid"] == DATASOURCE["uid"]
    assert datasource["type"] == DATASOURCE["type"]


@pytest.mark.parametrize("use", all_uses(), ids=lambda use: use.where)
def test_every_query_parses(use: Use) -> None:
    parse(use.expr)


@pytest.mark.parametrize("use", all_uses(), ids=lambda use: use.where)
def test_every_metric_and_label_a_query_uses_is_declared(use: Use) -> None:
    declared = declared_metrics()
    for selector in use.selectors():
        if selector.name == "up":
            continue  # Prometheus's own series about each scrape
        assert selector.name in declared, f"{use.where}: no service declares {selector.name}"
        unknown = selector.labels - declared[selector.name] - SCRAPE_LABELS
        assert not unknown, f"{use.where}: {selector.name} has no label {sorted(unknown)}"
    for labels, below in use.groupings():
        known = set(SCRAPE_LABELS)
        for selector in below:
            known |= declared.get(selector.name, frozenset())
        assert labels <= known, f"{use.where}: grouping by unknown {sorted(labels - known)}"


def test_the_readme_says_what_each_dashboard_answers() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in WANTED:
        assert f"\n| {name} | " in readme, f"README.md: no row for the {name} dashboard"
    assert "http://localhost:3000" in readme


def test_grafana_in_compose_reads_the_dashboards_where_provisioning_looks() -> None:
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "frontdesk.yml").read_text())
    (files,) = provider["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == files["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
