"""The local stack under a real Prometheus: the dashboards and alerts see what they query.

The whole local stack (`frontdesk up`'s Stack: PostgreSQL, Kafka, SMTP, five services) runs on
the shared simulation clock; a Prometheus from Debian's package scrapes the five services with
deploy/prometheus's configuration and alert rules (targets pointed at this machine). Calls are
driven through the public APIs; then every metric a dashboard panel or alert rule names must
be on a service's /metrics page, every query must run in Prometheus, and every rule must
evaluate without error. The escalation that reaches nobody must fire its alert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from libs.devstack.demo import DEMO_NUMBER, seed_demo
from libs.devstack.prometheus import LocalPrometheus, ensure_prometheus
from libs.devstack.stack import Stack, StackOptions
from libs.events import OfficeHours
from libs.events.catalogue import ALL_SERVICES
from libs.office_hours import office_open
from tests.support.pipeline import wait_until
from tests.support.processes import ROOT, free_port, free_port_offset, free_port_pair
from tests.support.promql import (
    ALERTS,
    GRAFANA_VARIABLES,
    SCRAPE_LABELS,
    Use,
    all_uses,
    exported_names,
)

pytestmark = [pytest.mark.infra, pytest.mark.slow]

AMS = ZoneInfo("Europe/Amsterdam")
CALLS_DRIVEN = 3


@dataclass
class Observed:
    """The running stack, the Prometheus scraping it, and HTTP clients for both."""

    stack: Stack
    prometheus: LocalPrometheus
    http: httpx.AsyncClient

    def url(self, service: str) -> str:
        """Base URL of one of the stack's services."""
        return self.stack.url(service)

    async def targets(self) -> list[dict[str, Any]]:
        """Prometheus's scrape targets and their health."""
        answer = await self.http.get(f"{self.prometheus.url}/api/v1/targets")
        found: list[dict[str, Any]] = answer.json()["data"]["activeTargets"]
        return found

    async def all_scraped(self) -> bool:
        """Whether every service has been scraped successfully at least once."""
        health = {t["labels"]["job"]: t["health"] for t in await self.targets()}
        return health == dict.fromkeys(ALL_SERVICES, "up")

    async def query(self, expr: str) -> dict[str, Any]:
        """Run a PromQL query now; Prometheus's answer."""
        response = await self.http.get(
            f"{self.prometheus.url}/api/v1/query", params={"query": expr}
        )
        answer: dict[str, Any] = response.json()
        return answer


def scrape_config(stack: Stack, home: Path) -> Path:
    """deploy/prometheus/prometheus.yml with its targets on this machine and 1 s intervals."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS)]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(ALL_SERVICES)
    token = home / "metrics_token"
    token.write_text(stack.metrics_token)
    for service, job in jobs.items():
        assert job.pop("dns_sd_configs") == [
            {"names": [service], "type": "A", "port": 8000, "refresh_interval": "30s"}
        ]
        address = stack.url(service).removeprefix("http://")
        job["static_configs"] = [{"targets": [address]}]
        assert job.pop("authorization") == {"credentials_file": "/prometheus/metrics_token"}
        job["authorization"] = {"credentials_file": str(token)}
    path = home / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Observed]:
    """The local stack on a simulation clock, scraped by Prometheus from the start."""
    home = tmp_path_factory.mktemp("observed")
    options = StackOptions(
        home=home / "stack",
        port_offset=free_port_offset(400, 4000, 37),
        kafka_port=free_port_pair(),
        clock="simulated",
        topic_prefix=f"obs{free_port()}",
    )
    stack = Stack(options)
    prometheus = None
    try:
        await stack.start()
        prometheus = LocalPrometheus(
            ensure_prometheus(), scrape_config(stack, home), home / "prometheus", free_port()
        )
        await prometheus.start()
        async with httpx.AsyncClient(timeout=30, headers=stack.staff_headers) as http:
            observed = Observed(stack, prometheus, http)
            # Every counter must be seen at 0 before the calls move it, or increase() misses it.
            await wait_until(observed.all_scraped, within=60, what="every target scraped")
            yield observed
    finally:
        if prometheus is not None:
            prometheus.stop()
        await stack.stop()


def working_morning() -> datetime:
    """10:00 in Amsterdam on a working day at least a week ahead (the clock never goes back)."""
    day = datetime.now(UTC).date() + timedelta(days=7)
    while not office_open(OfficeHours(), datetime.combine(day, time(10), AMS)):
        day += timedelta(days=1)
    return datetime.combine(day, time(10), AMS).astimezone(UTC)


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON of a response with the expected status."""
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


async def advance(o: Observed, seconds: float) -> None:
    """Move the shared simulation clock forward."""
    change = {"advance_seconds": seconds}
    expect(await o.http.post(f"{o.url('routing')}/clock", json=change), 200)


async def drive_calls(o: Observed) -> None:
    """An answered call with a note and an acknowledged escalation, a voicemail marked
    non-billable, and an escalation nobody acknowledges."""
    await seed_demo(o.url("intake"), o.url("calls"), o.stack.staff_headers)
    expect(
        await o.http.post(
            f"{o.url('routing')}/clock", json={"set_to": working_morning().isoformat()}
        ),
        200,
    )
    roster = f"{o.url('routing')}/operators/op-anna"
    expect(await o.http.put(roster, json={"name": "Anna", "languages": ["nl"]}), 200)
    expect(await o.http.put(f"{roster}/presence", json={"presence": "available"}), 200)
    first = await answered_call(o)
    acknowledged = await escalate(o, first)
    ack = {"by": "Jan Bakker"}
    expect(await o.http.post(f"{o.url('routing')}/escalations/{acknowledged}/ack", json=ack), 200)
    expect(await o.http.post(f"{o.url('calls')}/calls/{first}/end"), 200)
    await voicemail_call(o)
    await escalate(o, await answered_call(o))
    await advance(o, 3600)  # every attempt of the second escalation times out


async def answered_call(o: Observed) -> str:
    """A call to the demo number that operator Anna answers after 12 seconds, with a note."""
    body = {"dialled_number": DEMO_NUMBER, "caller_number": "+31612345678"}
    call_id: str = expect(await o.http.post(f"{o.url('calls')}/calls", json=body), 201)["call_id"]
    await advance(o, 12)
    answer = {"language": "nl"}
    expect(await o.http.post(f"{o.url('calls')}/calls/{call_id}/answer", json=answer), 200)
    note = {"caller_name": "Jan de Vries", "message": "Water in the cellar, please call back"}
    expect(await o.http.post(f"{o.url('calls')}/calls/{call_id}/notes", json=note), 201)
    return call_id


async def escalate(o: Observed, call_id: str) -> str:
    """Escalate the call under the demo book's leak rule; wait until routing dispatched it."""
    body = {"urgency_kind": "leak", "reason": "Water everywhere"}
    path = f"{o.url('calls')}/calls/{call_id}/escalations"
    escalation_id: str = expect(await o.http.post(path, json=body), 201)["escalation_id"]

    async def dispatched() -> bool:
        response = await o.http.get(f"{o.url('routing')}/escalations/{escalation_id}")
        return response.status_code == 200 and bool(response.json()["attempts"])

    await wait_until(dispatched, within=60, what="routing to dispatch the escalation")
    return escalation_id


async def voicemail_call(o: Observed) -> None:
    """A call that ends in a voicemail and is marked non-billable (wrong number)."""
    body = {"dialled_number": DEMO_NUMBER}
    call_id = expect(await o.http.post(f"{o.url('calls')}/calls", json=body), 201)["call_id"]
    call = f"{o.url('calls')}/calls/{call_id}"
    recording = {"recording_ref": "rec-1", "duration_seconds": 25, "summary": "Wrong number"}
    expect(await o.http.post(f"{call}/voicemail", json=recording), 201)
    expect(await o.http.post(f"{call}/non-billable", json={"reason": "wrong_number"}), 201)


async def exported(o: Observed) -> dict[str, frozenset[str]]:
    """Every sample name on the five services' /metrics pages, with their label names."""
    names: dict[str, frozenset[str]] = {}
    for service in ALL_SERVICES:
        page = await o.http.get(f"{o.url(service)}/metrics")
        assert page.status_code == 200, page.text
        samples = [line for line in page.text.splitlines() if not line.startswith("#")]
        assert not [line for line in samples if "_created" in line.split(" ")[0]], service
        for name, labels in exported_names(page.text).items():
            names[name] = names.get(name, frozenset()) | labels
    return names


@pytest.fixture(scope="module")
async def driven(observed: Observed) -> Observed:
    """The stack after the calls were driven and Prometheus has scraped the result."""
    await drive_calls(observed)

    async def scraped() -> bool:
        answer = await observed.query("sum(frontdesk_calls_received_total)")
        result = answer["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) == CALLS_DRIVEN

    await wait_until(scraped, within=60, what="Prometheus to scrape the calls driven")
    return observed


async def test_every_metric_a_dashboard_or_alert_names_is_exported(driven: Observed) -> None:
    names = await exported(driven)
    for use in all_uses():
        for selector in use.selectors():
            if selector.name == "up":
                continue  # Prometheus's own series; checked in the scrape test below
            assert selector.name in names, f"{use.where}: nothing exports {selector.name}"
            seen = names[selector.name]
            if seen:  # label names are only visible on a series that has samples
                unknown = selector.labels - seen - SCRAPE_LABELS
                assert not unknown, f"{use.where}: {selector.name} has no {sorted(unknown)}"


async def test_prometheus_scrapes_all_five_services(driven: Observed) -> None:
    assert await driven.all_scraped(), await driven.targets()
    answer = await driven.query("up")
    up = {series["metric"]["job"]: series["value"][1] for series in answer["data"]["result"]}
    assert up == dict.fromkeys(ALL_SERVICES, "1")


@pytest.mark.parametrize("use", all_uses(), ids=lambda use: use.where)
async def test_every_query_runs_in_prometheus(driven: Observed, use: Use) -> None:
    expr = use.expr
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    answer = await driven.query(expr)
    assert answer["status"] == "success", f"{use.where}: {answer}"


async def test_the_figures_reach_prometheus(driven: Observed) -> None:
    figures = {
        'sum(frontdesk_calls_received_total{office="open"})': CALLS_DRIVEN,
        "sum(frontdesk_calls_answered_total)": 2,
        "sum(frontdesk_calls_voicemail_total)": 1,
        'sum(frontdesk_calls_non_billable_total{reason="wrong_number", change="marked"})': 1,
        "sum(frontdesk_call_answer_seconds_count)": 2,
        # Anna takes the first call and, free again, the second; the third finds her busy.
        'sum(frontdesk_operator_calls_total{operator="op-anna", language="nl"})': 2,
        'sum(frontdesk_calls_routed_total{reason="no_operator"})': 1,
        'sum(frontdesk_escalations_total{outcome="acknowledged"})': 1,
        'count(frontdesk_client_info{company="Installatiebedrijf Bakker B.V."})': 1,
    }
    for expr, expected in figures.items():

        async def reached(expr: str = expr, expected: float = expected) -> bool:
            result = (await driven.query(expr))["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) == expected

        try:
            await wait_until(reached, within=30, what=f"{expr} == {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{expr}: {(await driven.query(expr))['data']}") from exc


async def test_the_alert_rules_evaluate_and_the_unacknowledged_escalation_fires(
    driven: Observed,
) -> None:
    async def exhausted_fires() -> bool:
        alerts = (await driven.http.get(f"{driven.prometheus.url}/api/v1/alerts")).json()
        firing = {a["labels"]["alertname"] for a in alerts["data"]["alerts"]}
        return "FrontdeskEscalationExhausted" in firing

    await wait_until(exhausted_fires, within=60, what="the exhausted escalation to alert")
    rules = (await driven.http.get(f"{driven.prometheus.url}/api/v1/rules")).json()
    evaluated = [r for g in rules["data"]["groups"] for r in g["rules"]]
    assert len(evaluated) == len(list(_alert_names()))
    assert {r["name"]: r["health"] for r in evaluated} == dict.fromkeys(_alert_names(), "ok")


def _alert_names() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"]]
