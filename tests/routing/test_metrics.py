"""Routing's operator metrics on a running routing process: calls per operator, the roster gauge."""

from __future__ import annotations

import re
from typing import get_args
from uuid import uuid4

import httpx
import pytest

from libs.events.routing import Presence
from libs.events.values import Language
from tests.routing.conftest import put_operator, receive, routing_of, seed_client
from tests.support.credentials import STAFF
from tests.support.pipeline import metric_value, wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]

MONDAY_MORNING = "2026-06-01T08:00:00+00:00"  # 10:00 in Amsterdam, a working day
OPERATOR_CALLS = "frontdesk_operator_calls_total"
_GAUGE_LINE = re.compile(r'^frontdesk_operators\{language="(\w+)",presence="(\w+)"\} (\S+)$')


async def test_a_call_routed_to_an_operator_counts_for_them_in_the_clients_language(
    stack: Stack,
) -> None:
    client = await seed_client(stack, language="en")
    await put_operator(stack, f"op-count-{uuid4().hex[:8]}", "en")
    url = stack.url
    before = metric_value(url, OPERATOR_CALLS, language="en")
    call = await receive(stack, client, MONDAY_MORNING)
    route = (await routing_of(stack, call.call_id))["route"]
    assert route["destination"] == "operator", route

    async def counted() -> bool:
        return metric_value(url, OPERATOR_CALLS, language="en") == before + 1

    await wait_until(counted, within=10, what="the routed call to be counted")
    assert metric_value(url, OPERATOR_CALLS, operator=route["operator_id"], language="en") >= 1


async def test_the_operators_gauge_follows_the_roster_and_is_right_after_a_restart(
    stack: Stack,
) -> None:
    operator, body = f"op-gauge-{uuid4().hex[:8]}", {"name": "Gauge", "languages": ["nl", "fr"]}
    before = roster_gauge(stack.url)
    assert (await stack.http.put(f"/operators/{operator}", json=body)).status_code == 200
    added = roster_gauge(stack.url)
    assert added[("nl", "offline")] == before[("nl", "offline")] + 1
    assert added[("fr", "offline")] == before[("fr", "offline")] + 1
    presence = {"presence": "available"}
    assert (await stack.http.put(f"/operators/{operator}/presence", json=presence)).is_success
    moved = roster_gauge(stack.url)
    assert moved[("nl", "offline")] == before[("nl", "offline")]
    assert moved[("nl", "available")] == added[("nl", "available")] + 1
    assert moved == await roster_table(stack)
    stack.process.stop()
    stack.process.start()

    async def counted_again() -> bool:
        return roster_gauge(stack.url) == await roster_table(stack)

    await wait_until(counted_again, within=10, what="the restarted process to count the roster")


def roster_gauge(url: str) -> dict[tuple[str, str], float]:
    """The operators gauge of a running routing process, by (language, presence)."""
    found = {}
    for line in httpx.get(f"{url}/metrics", headers=STAFF, timeout=5).text.splitlines():
        if match := _GAUGE_LINE.match(line):
            found[(match[1], match[2])] = float(match[3])
    return found


async def roster_table(stack: Stack) -> dict[tuple[str, str], float]:
    """What the gauge should say: the roster table counted, zero where nobody is."""
    rows = await stack.pool.fetch(
        f"SELECT language, presence, count(*) AS n FROM {stack.schema}.operators, "
        "unnest(languages) AS language GROUP BY language, presence"
    )
    counted = {(row["language"], row["presence"]): float(row["n"]) for row in rows}
    return {
        (language, presence): counted.get((language, presence), 0.0)
        for language in get_args(Language)
        for presence in get_args(Presence)
    }
