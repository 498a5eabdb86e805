"""One shared simulation clock: moving it is seen by every service process."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from tests.conftest import World
from tests.support.credentials import STAFF
from tests.support.pipeline import RELAY, wait_until

pytestmark = [pytest.mark.infra]


async def _clock(url: str) -> datetime:
    async with httpx.AsyncClient(timeout=5, headers=STAFF) as http:
        return datetime.fromisoformat((await http.get(f"{url}/clock")).json()["now"])


async def _post_clock(url: str, body: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5, headers=STAFF) as http:
        return await http.post(f"{url}/clock", json=body)


async def test_advancing_the_shared_clock_is_seen_by_every_service_process(world: World) -> None:
    simulated = {"FRONTDESK_CLOCK": "simulated"}
    procs = [world.process(RELAY, svc, svc, **simulated) for svc in ("calls", "routing", "notify")]
    for proc in procs:
        proc.start()
    before = await _clock(procs[0].url)
    answer = await _post_clock(procs[0].url, {"advance_seconds": 3 * 86400})
    assert answer.status_code == 200, answer.text
    target = before + timedelta(days=3)
    assert datetime.fromisoformat(answer.json()["now"]) == target

    async def everyone_sees_it() -> bool:
        return all([await _clock(p.url) == target for p in procs])

    await wait_until(everyone_sees_it, within=10, what="every process to see the new time")


async def test_the_shared_clock_never_goes_back_and_only_moves_in_simulation(world: World) -> None:
    sim = world.process(RELAY, "calls", "calls", FRONTDESK_CLOCK="simulated")
    real = world.process(RELAY, "routing", "routing")
    sim.start()
    real.start()
    past = (await _clock(sim.url) - timedelta(hours=1)).isoformat()
    backwards = await _post_clock(sim.url, {"set_to": past})
    assert backwards.status_code == 409
    assert "before" in backwards.json()["detail"]
    both = await _post_clock(sim.url, {"set_to": past, "advance_seconds": 1})
    assert both.status_code == 422
    not_simulated = await _post_clock(real.url, {"advance_seconds": 60})
    assert not_simulated.status_code == 409
