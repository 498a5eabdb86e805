"""A small model of Grafana dashboards, rendered to the JSON Grafana provisions from files.

Dashboards are written in Python (libs/devstack/dashboards.py) so that panels share one layout
and style, and the JSON under deploy/grafana/dashboards is generated from them;
`frontdesk dashboards --check` fails when the committed JSON is not what the code renders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
GRID_WIDTH = 24
SCHEMA_VERSION = 39


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel: a time series graph, a single stat or a bar gauge."""

    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8
    bars: bool = False
    interval: str = ""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable whose values are one label's values of one metric."""

    name: str
    label: str
    metric: str
    label_name: str

    @property
    def definition(self) -> str:
        """The variable's query in Grafana's label_values() form."""
        return f"label_values({self.metric}, {self.label_name})"


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: what it answers, its time range and its panels, laid out in rows."""

    uid: str
    title: str
    answers: str
    panels: tuple[Panel, ...]
    time_from: str = "now-24h"
    time_to: str = "now"
    variables: tuple[Variable, ...] = field(default=())

    @property
    def filename(self) -> str:
        """The JSON file the dashboard is provisioned from."""
        return f"{self.uid}.json"


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.answers,
        "tags": ["frontdesk"],
        "timezone": "Europe/Amsterdam",
        "editable": True,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": dashboard.time_from, "to": dashboard.time_to},
        "annotations": {"list": []},
        "links": [_links()],
        "templating": {"list": [_variable(v) for v in dashboard.variables]},
        "panels": _layout(dashboard.panels),
    }


def _links() -> dict[str, Any]:
    return {
        "type": "dashboards",
        "tags": ["frontdesk"],
        "asDropdown": True,
        "title": "Frontdesk",
        "includeVars": False,
        "keepTime": True,
    }


def _variable(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": variable.definition,
        "query": {"query": variable.definition, "refId": variable.name},
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
    }


def _layout(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    rendered, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        grid = {"x": x, "y": y, "w": panel.width, "h": panel.height}
        rendered.append(_panel(number, panel, grid))
        x, row_height = x + panel.width, max(row_height, panel.height)
    return rendered


def _panel(number: int, panel: Panel, grid: dict[str, int]) -> dict[str, Any]:
    return {
        "id": number,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid,
        "datasource": DATASOURCE,
        "interval": panel.interval,
        "targets": [
            _target(chr(ord("A") + i), q, instant=panel.kind != "timeseries")
            for i, q in enumerate(panel.queries)
        ],
        "fieldConfig": {"defaults": _field_defaults(panel), "overrides": []},
        "options": _options(panel),
    }


def _target(ref: str, query: Query, *, instant: bool) -> dict[str, Any]:
    # A single number or a bar per series needs the value at the range's end only.
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": not instant,
        "instant": instant,
    }


def _field_defaults(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "min": 0}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "bars" if panel.bars else "line",
            "fillOpacity": 60 if panel.bars else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": True,
        }
    return defaults


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if panel.kind == "bargauge":
        return {"reduceOptions": reduce, "orientation": "horizontal", "displayMode": "basic"}
    return {"reduceOptions": reduce, "colorMode": "value", "graphMode": "none"}


def dumps(dashboard: Dashboard) -> str:
    """The dashboard's JSON file content (stable formatting, so diffs stay readable)."""
    return json.dumps(render(dashboard), indent=2, ensure_ascii=False) + "\n"


def write(dashboards: tuple[Dashboard, ...], directory: Path) -> list[Path]:
    """Write each dashboard's JSON file; return the files that changed."""
    changed = []
    for dashboard in dashboards:
        path = directory / dashboard.filename
        content = dumps(dashboard)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            changed.append(path)
    return changed


def stale(dashboards: tuple[Dashboard, ...], directory: Path) -> list[Path]:
    """Files that differ from what the code renders, and JSON files no dashboard renders."""
    expected = {d.filename: dumps(d) for d in dashboards}
    differ = [
        directory / name
        for name, content in expected.items()
        if not (directory / name).exists() or (directory / name).read_text() != content
    ]
    unknown = [p for p in directory.glob("*.json") if p.name not in expected]
    return differ + unknown
