"""The screen pops intake keeps in memory: never served once a change is committed.

The rules of the cache itself without I/O, then two intake replicas on one schema (real
processes, PostgreSQL and LISTEN/NOTIFY): a change made through one is seen by the other well
within the documented bound, and a kept row never lets a caller see another client's number.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import cast

import httpx
import pytest

from services.intake.read_model import ClientRow, ScreenPopRow
from services.intake.screen_pops import ScreenPops
from tests.intake.conftest import INTAKE_APP
from tests.intake.test_api import book, onboard, register
from tests.support.builders import fresh_number
from tests.support.credentials import STAFF
from tests.support.processes import ServiceProcess
from tests.support.stack import World

KEEP_LONG = {"FRONTDESK_INTAKE_SCREEN_POP_CACHE_SECONDS": "60"}
"""Kept rows live a minute: only a notification can make a replica see a change in time."""
SEEN_WITHIN = 1.5
"""A change must be seen on the other replica this fast (a notification takes milliseconds)."""


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pop_row(number: str = "+31851234567") -> ScreenPopRow:
    """A held number's row as read from the tables (only what the cache looks at matters)."""
    return ScreenPopRow(number, cast(ClientRow, None), None)


def listening_cache(max_age: float = 2.0) -> tuple[ScreenPops, Ticks]:
    """A cache whose listener is up, on a clock the test moves."""
    ticks = Ticks()
    pops = ScreenPops(max_age, clock=ticks)
    pops.listening = True
    return pops, ticks


def test_a_kept_row_is_served_until_it_is_older_than_max_age() -> None:
    pops, ticks = listening_cache(max_age=2.0)
    row = pop_row()
    pops.put(row, pops.generation)
    ticks.now = 2.0
    assert pops.get(row.number) is row
    ticks.now = 2.01
    assert pops.get(row.number) is None


def test_nothing_is_served_or_kept_while_not_listening() -> None:
    pops, _ = listening_cache()
    row = pop_row()
    pops.put(row, pops.generation)
    pops.listening = False
    assert pops.get(row.number) is None
    pops.put(pop_row("+31851234568"), pops.generation)
    pops.listening = True
    assert pops.get("+31851234568") is None


def test_a_read_that_began_before_a_change_is_not_kept() -> None:
    pops, _ = listening_cache()
    began = pops.generation
    pops.drop_all()  # a change was notified while the read was under way
    pops.put(pop_row(), began)
    assert pops.get(pop_row().number) is None
    assert len(pops) == 0


def test_a_change_drops_every_kept_row() -> None:
    pops, _ = listening_cache()
    for number in ("+31851234567", "+31851234568"):
        pops.put(pop_row(number), pops.generation)
    pops.drop_all()
    assert len(pops) == 0
    assert pops.get("+31851234567") is None


def test_max_age_zero_keeps_nothing() -> None:
    pops, _ = listening_cache(max_age=0)
    pops.put(pop_row(), pops.generation)
    assert len(pops) == 0


@pytest.fixture(scope="module")
def replicas(intake_world: World) -> list[ServiceProcess]:
    """Two intake processes on one schema, as two replicas behind a load balancer."""
    procs = [intake_world.process(INTAKE_APP, "intake", "pops", **KEEP_LONG) for _ in range(2)]
    for proc in procs:
        proc.start()
    return procs


@pytest.fixture
async def clients(replicas: list[ServiceProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    """A staff HTTP client for each replica."""
    made = [httpx.AsyncClient(base_url=p.url, timeout=30, headers=STAFF) for p in replicas]
    yield made
    for client in made:
        await client.aclose()


async def seen_within(
    http: httpx.AsyncClient, path: str, holds: Callable[[httpx.Response], bool], bound: float
) -> float:
    """Seconds until GET `path` answers what `holds` accepts; fails after `bound`."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        response = await http.get(path)
        if holds(response):
            return time.monotonic() - started
    raise AssertionError(f"{path} did not change within {bound} s on the other replica")


@pytest.mark.infra
async def test_a_book_changed_on_one_replica_is_popped_on_the_other(
    clients: list[httpx.AsyncClient],
) -> None:
    one, other = clients
    client_id, number = await onboard(one)
    for http in clients:  # both keep the row now
        assert (await http.get(f"/numbers/{number}")).json()["book_version"] == 1
    changed = await one.put(
        f"/clients/{client_id}/book", json=book("Goedemiddag", expected_book_version=1)
    )
    assert changed.status_code == 200, changed.text
    assert (await one.get(f"/numbers/{number}")).json()["greeting"] == "Goedemiddag"

    def new_book(response: httpx.Response) -> bool:
        return bool(response.json()["book_version"] == 2)

    await seen_within(other, f"/numbers/{number}", new_book, SEEN_WITHIN)
    assert (await other.get(f"/numbers/{number}")).json()["greeting"] == "Goedemiddag"


@pytest.mark.infra
async def test_a_released_number_stops_popping_on_the_other_replica(
    clients: list[httpx.AsyncClient],
) -> None:
    one, other = clients
    client_id, number = await onboard(one)
    assert (await other.get(f"/numbers/{number}")).status_code == 200
    released = await one.delete(f"/clients/{client_id}/numbers/{number}")
    assert released.status_code in (200, 204), released.text

    def gone(response: httpx.Response) -> bool:
        return response.status_code == 404

    await seen_within(other, f"/numbers/{number}", gone, SEEN_WITHIN)


@pytest.mark.infra
async def test_a_kept_row_is_no_way_into_another_clients_number(
    clients: list[httpx.AsyncClient],
) -> None:
    one, _ = clients
    _, number = await onboard(one)
    assert (await one.get(f"/numbers/{number}")).status_code == 200  # kept now
    other_client = await register(one)
    issued = await one.post(
        "/api-keys", json={"client_id": other_client, "role": "operator", "name": "their desk"}
    )
    key = {"X-Api-Key": issued.json()["key"]}
    refused = await one.get(f"/numbers/{number}", headers=key)
    assert refused.status_code == 404
    assert (await one.get(f"/numbers/{fresh_number()}", headers=key)).status_code == 404
