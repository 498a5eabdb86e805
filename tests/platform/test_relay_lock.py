"""Exactly one relay per service publishes; a standby takes over when it dies."""

from __future__ import annotations

import asyncpg
import pytest

from libs.events.envelope import new_id
from tests.conftest import World
from tests.support.pipeline import (
    PROJECTION,
    RELAY,
    append_calls,
    assert_each_applied_once_in_order,
    calls_store,
    metric_value,
    reached,
    wait_until,
)
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.infra]


async def test_one_relay_is_active_and_a_standby_takes_over_when_it_is_killed(
    world: World, db: asyncpg.Pool
) -> None:
    world.process(PROJECTION, "billing", "proj").start()
    first, second = (world.process(RELAY, "calls", "calls") for _ in range(2))
    first.start()
    second.start()
    store = await calls_store(db, world.schema("calls"), world.prefix)
    clients = [new_id(), new_id()]
    appended = await append_calls(store, clients, per_client=20)
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 40), what="the first 40 events")

    def active(proc: ServiceProcess) -> float:
        return metric_value(proc.url, "frontdesk_relay_active")

    assert sorted([active(first), active(second)]) == [0.0, 1.0]
    leader, standby = (first, second) if active(first) == 1.0 else (second, first)
    assert leader.proc is not None
    leader.proc.kill()
    leader.wait_exit(10)
    appended += await append_calls(store, clients, per_client=20)
    await wait_until(lambda: reached(db, schema, 80), what="the standby to publish the rest")
    assert active(standby) == 1.0
    await assert_each_applied_once_in_order(db, schema, appended)
