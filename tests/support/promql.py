"""What the deploy files ask Prometheus: every PromQL expression, and the metrics it names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ROOT

DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# What Grafana puts in place of its variables before the query reaches Prometheus.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1d",
    "$client": ".*",
}
LABEL_VALUES = re.compile(r"^label_values\((?P<metric>[a-zA-Z_:][\w:]*),\s*(?P<label>\w+)\)$")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "gauge": ("",),
    "info": ("_info",),
}
# Labels Prometheus adds to every scraped series, and the histogram bucket label.
SCRAPE_LABELS = frozenset({"job", "instance", "le"})


@dataclass(frozen=True)
class Selector:
    """A metric an expression reads and the labels it matches on."""

    name: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Use:
    """One expression of a deploy file and where it is."""

    where: str
    expr: str

    def selectors(self) -> list[Selector]:
        """Every metric the expression selects."""
        found: list[Selector] = []
        promql_parser.walk(parse(self.expr), lambda node: _collect(node, found))
        return found

    def groupings(self) -> list[tuple[frozenset[str], list[Selector]]]:
        """For each `by (...)`/`on (...)`: its labels and the selectors below it."""
        found: list[tuple[frozenset[str], list[Selector]]] = []
        promql_parser.walk(parse(self.expr), lambda node: _grouping(node, found))
        return found


def parse(expr: str) -> promql_parser.Expr:
    """The expression's syntax tree, with Grafana's variables filled in."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return promql_parser.parse(expr)


def _collect(node: Any, found: list[Selector]) -> None:
    if isinstance(node, promql_parser.VectorSelector):
        labels = frozenset(m.name for m in node.matchers.matchers if m.name != "__name__")
        found.append(Selector(node.name, labels))


def _grouping(node: Any, found: list[tuple[frozenset[str], list[Selector]]]) -> None:
    below: list[Selector] = []
    if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
        promql_parser.walk(node.expr, lambda n: _collect(n, below))
        found.append((frozenset(node.modifier.labels), below))
    if isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
        matching = node.modifier.matching
        if matching is not None:
            promql_parser.walk(node.rhs, lambda n: _collect(n, below))
            promql_parser.walk(node.lhs, lambda n: _collect(n, below))
            found.append((frozenset(matching.labels), below))


def dashboard_uses(directory: Path = DASHBOARDS) -> Iterator[Use]:
    """Every panel query and variable query of every dashboard."""
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text())
        for variable in board["templating"]["list"]:
            match = LABEL_VALUES.match(variable["definition"])
            assert match, f"{path.name}: variable {variable['name']} is not label_values()"
            yield Use(f"{path.name} variable {variable['name']}", match["metric"])
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield Use(f"{path.name} panel {panel['title']!r}", target["expr"])


def rule_uses(path: Path = ALERTS) -> Iterator[Use]:
    """Every alert expression of the rules file."""
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            yield Use(f"{path.name} {rule['alert']}", rule["expr"])


def all_uses() -> list[Use]:
    """Every expression of the dashboards and the alert rules."""
    return [*dashboard_uses(), *rule_uses()]


def exported_names(exposition: str) -> dict[str, frozenset[str]]:
    """Sample names a /metrics page declares, with the label names seen on their samples."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in names.items()}
