"""The pool of numbers over HTTP, against the intake process and its real PostgreSQL.

The process runs on a simulated clock of its own, so a test can let a quarantine pass.
Concurrent reservations come first: the last test moves the clock three months on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from libs.events import new_id
from tests.intake.test_api import register
from tests.support.builders import fresh_number
from tests.support.clock import amsterdam, private_clock, working_day
from tests.support.credentials import STAFF
from tests.support.pipeline import wait_until
from tests.support.processes import ServiceProcess
from tests.support.stack import Infrastructure, private_world

pytestmark = [pytest.mark.infra]
START = amsterdam(working_day(date(2026, 12, 1)), 9)
QUARANTINE = timedelta(days=90)


@pytest.fixture(scope="module")
async def pool_intake(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    """An intake process on a simulated clock private to this module."""
    async with private_world(infra, tmp_path_factory.mktemp("pool")) as world:
        clock_dsn = await private_clock(infra.dsn, world.schema("clock"), START)
        env = {"FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn}
        proc = world.process("services.intake.app:create_app", "intake", "intake", **env)
        proc.start()
        yield proc


@pytest.fixture
async def http(pool_intake: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """Staff's HTTP client for the process."""
    async with httpx.AsyncClient(base_url=pool_intake.url, timeout=60, headers=STAFF) as client:
        yield client


async def pool(http: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    """GET /numbers/pool."""
    answer = await http.get("/numbers/pool", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def add(http: httpx.AsyncClient, *numbers: str) -> dict[str, Any]:
    """POST /numbers."""
    answer = await http.post("/numbers", json={"numbers": list(numbers)})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def reserve(http: httpx.AsyncClient, client_id: str, **body: str) -> httpx.Response:
    """POST /clients/{id}/numbers (no number: the next free one)."""
    return await http.post(f"/clients/{client_id}/numbers", json=body)


async def test_concurrent_reservations_never_give_one_number_to_two_clients(
    http: httpx.AsyncClient,
) -> None:
    mine = [fresh_number() for _ in range(8)]
    await add(http, *mine)
    free = len(await pool(http, state="free"))
    clients = [await register(http) for _ in range(free + 4)]
    answers = await asyncio.gather(*(reserve(http, c) for c in clients))
    given = [a.json()["number"] for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code != 201]
    assert len(given) == len(set(given)) == free
    assert set(mine) <= set(given)
    assert [(a.status_code, "no free number" in a.json()["detail"]) for a in refused] == [
        (409, True)
    ] * 4
    held = {n["number"]: n["client_id"] for n in await pool(http, state="reserved")}
    assert {held[a.json()["number"]] for a in answers if a.status_code == 201} == set(clients) - {
        a.url.path.split("/")[2] for a in refused
    }


async def test_many_clients_asking_for_one_named_number_only_one_gets_it(
    http: httpx.AsyncClient,
) -> None:
    number = fresh_number()
    await add(http, number)
    clients = [await register(http) for _ in range(6)]
    answers = await asyncio.gather(*(reserve(http, c, number=number) for c in clients))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5, [a.text for a in answers]
    (entry,) = [n for n in await pool(http) if n["number"] == number]
    winner = next(c for c, a in zip(clients, answers, strict=True) if a.status_code == 201)
    assert (entry["state"], entry["client_id"]) == ("reserved", winner)


async def test_adding_numbers_reports_those_the_pool_had_and_bad_input_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    first, second = fresh_number(), fresh_number()
    assert await add(http, first) == {"added": [first], "already_in_pool": []}
    national = "0" + second.removeprefix("+31")
    assert await add(http, first, national) == {"added": [second], "already_in_pool": [first]}
    before = await pool(http)
    bodies: list[dict[str, Any]] = [{"numbers": [fresh_number(), "+3185"]}, {"numbers": []},
                                    {"numbers": "x"}]  # fmt: skip
    for body in bodies:
        answer = await http.post("/numbers", json=body)
        assert answer.status_code == 422, answer.text
    assert await pool(http) == before
    assert (await http.get("/numbers/pool", params={"state": "lost"})).status_code == 422


async def test_a_number_not_in_the_pool_joins_it_when_staff_reserve_it(
    http: httpx.AsyncClient,
) -> None:
    client_id, number = await register(http), fresh_number()
    assert (await reserve(http, client_id, number=number)).status_code == 201
    (entry,) = [n for n in await pool(http) if n["number"] == number]
    assert (entry["state"], entry["client_id"]) == ("reserved", client_id)


async def test_a_client_leaving_at_a_chosen_moment_keeps_its_number_until_then(
    http: httpx.AsyncClient,
) -> None:
    client_id, number = await register(http), fresh_number()
    assert (await reserve(http, client_id, number=number)).status_code == 201
    now = datetime.fromisoformat((await http.get("/clock")).json()["now"])
    effective = now + timedelta(hours=2)
    body = {"reason": "payroll", "effective_at": effective.isoformat()}
    scheduled = await http.post(f"/clients/{client_id}/offboard", json=body)
    assert scheduled.status_code == 200, scheduled.text
    shown = scheduled.json()
    assert (shown["status"], shown["numbers"]) == ("registered", [number])
    assert datetime.fromisoformat(shown["offboard_at"]) == effective
    assert (await http.get(f"/numbers/{number}")).status_code == 200  # calls still answered
    await http.post("/clock", json={"advance_seconds": 2 * 3600})

    async def left() -> bool:
        row = (await http.get(f"/clients/{client_id}")).json()
        return bool(row["status"] == "offboarded")

    await wait_until(left, within=30, what="the client to leave at its chosen moment")
    assert (await http.get(f"/numbers/{number}")).status_code == 404
    (entry,) = [n for n in await pool(http) if n["number"] == number]
    until = datetime.fromisoformat(entry["quarantine_until"])
    assert entry["state"] == "quarantined"
    assert timedelta(0) <= until - (effective + QUARANTINE) < timedelta(minutes=1)
    bad = await http.post(f"/clients/{client_id}/offboard", json={"effective_at": "tomorrow"})
    assert bad.status_code == 422


async def test_a_scheduled_departure_cancelled_leaves_the_client_answered_past_that_moment(
    http: httpx.AsyncClient,
) -> None:
    client_id, number = await register(http), fresh_number()
    assert (await reserve(http, client_id, number=number)).status_code == 201
    nothing = await http.post(f"/clients/{client_id}/offboard/cancel")
    assert nothing.status_code == 409
    assert "no departure scheduled" in nothing.json()["detail"]
    now = datetime.fromisoformat((await http.get("/clock")).json()["now"])
    body = {"reason": "payroll", "effective_at": (now + timedelta(hours=1)).isoformat()}
    assert (await http.post(f"/clients/{client_id}/offboard", json=body)).status_code == 200
    cancelled = await http.post(f"/clients/{client_id}/offboard/cancel",
                                json={"reason": "stays after all"})  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["offboard_at"] is None
    assert (await http.post(f"/clients/{client_id}/offboard/cancel")).status_code == 409
    assert (await http.post(f"/clients/{new_id()}/offboard/cancel")).status_code == 404
    bad = await http.post(f"/clients/{client_id}/offboard/cancel", json={"reason": "a\u0000"})
    assert bad.status_code == 422
    await http.post("/clock", json={"advance_seconds": 2 * 3600})
    later = {"reason": "x", "effective_at": (now + timedelta(hours=3)).isoformat()}
    assert (await http.post(f"/clients/{client_id}/offboard", json=later)).status_code == 200
    other, other_number = await register(http), fresh_number()  # a departure the loop records
    assert (await reserve(http, other, number=other_number)).status_code == 201
    soon = {"effective_at": (now + timedelta(hours=2, minutes=30)).isoformat()}
    assert (await http.post(f"/clients/{other}/offboard", json=soon)).status_code == 200
    await http.post("/clock", json={"advance_seconds": 1800})

    async def other_left() -> bool:
        return bool((await http.get(f"/clients/{other}")).json()["status"] == "offboarded")

    await wait_until(other_left, within=30, what="the other client to leave")
    row = (await http.get(f"/clients/{client_id}")).json()
    assert (row["status"], row["numbers"]) == ("registered", [number])  # past its old moment
    assert (await http.get(f"/numbers/{number}")).status_code == 200


async def test_a_released_number_rests_in_quarantine_on_the_simulated_clock(
    http: httpx.AsyncClient,
) -> None:
    leaving, explicit, successor = await register(http), await register(http), await register(http)
    old, other = fresh_number(), fresh_number()
    assert (await reserve(http, leaving, number=old)).status_code == 201
    assert (await reserve(http, explicit, number=other)).status_code == 201
    left = await http.post(f"/clients/{leaving}/offboard", json={"reason": "moved"})
    assert left.status_code == 200, left.text
    assert (await http.delete(f"/clients/{explicit}/numbers/{other}")).status_code == 204
    now = datetime.fromisoformat((await http.get("/clock")).json()["now"])
    resting = {n["number"]: n for n in await pool(http, state="quarantined")}
    for number in (old, other):
        until = datetime.fromisoformat(resting[number]["quarantine_until"])
        assert timedelta(0) <= until - (now + QUARANTINE) < timedelta(minutes=1)
    refused = await reserve(http, successor, number=old)
    assert refused.status_code == 409
    assert "quarantine until" in refused.json()["detail"]
    await add(http, *(fresh_number() for _ in range(2)))  # the next free is never a resting one
    assert (await reserve(http, successor)).json()["number"] not in (old, other)

    moved = await http.post("/clock", json={"advance_seconds": QUARANTINE.total_seconds() + 60})
    assert moved.status_code == 200, moved.text
    states = {n["number"]: n["state"] for n in await pool(http)}
    assert (states[old], states[other]) == ("free", "free")
    again = await reserve(http, successor, number=old)
    assert again.status_code == 201, again.text
