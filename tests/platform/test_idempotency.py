"""Idempotency-Key: the same key and request get the first answer, and nothing is done twice.

The key's rules are pure; the kept answers are tested in-process on PostgreSQL through a
small app whose routes append an event: on the test's rolled-back transaction, and where two
requests must really race, on a committed schema of its own (dropped after).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from libs.errors import Conflict, Rejected
from libs.events import new_id
from libs.platform.clock import FixedClock
from libs.platform.db import migrate
from libs.platform.http import Store
from libs.platform.idempotency import (
    Answer,
    Claim,
    Idempotent,
    IdempotentRoute,
    IdempotentRun,
    check_key,
    credential_of,
    fingerprint,
    keep,
    look_up,
)
from libs.platform.problems import install_problems
from libs.platform.settings import Settings
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.support.builders import call_received
from tests.support.rollback import rolled_back_store

CREATING_POSTS = {
    "intake": {
        "/clients", "/clients/{client_id}/numbers", "/clients/{client_id}/plan", "/numbers",
        "/clients/{client_id}/quote", "/clients/{client_id}/onboarding/enquiry",
        "/clients/{client_id}/book/change-requests",
    },
    "calls": {
        "/calls", "/calls/{call_id}/notes", "/calls/{call_id}/escalations",
        "/calls/{call_id}/transfer", "/calls/{call_id}/voicemail",
        "/calls/{call_id}/non-billable", "/calls/{call_id}/announced-mail/confirm",
        "/calls/twilio/voice", "/calls/twilio/recording",
    },
    "routing": {"/escalations/{escalation_id}/ack"},
    "notify": {"/digests/run"},
    "billing": {
        "/invoices/run", "/invoices/{invoice_id}/payments", "/clients/{client_id}/punch-card"
    },
}  # fmt: skip
"""Every POST of each service that creates something (an event, a notification)."""
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT = new_id()
KEY = {"Idempotency-Key": "order-7f3a"}


@dataclass
class Runtime:
    """What the idempotent routes take from a service's runtime: store, clock and settings."""

    store: EventStore
    clock: FixedClock = field(default_factory=lambda: FixedClock(START))
    settings: Settings = field(
        default_factory=lambda: Settings(service="calls", database_url="postgresql://unused")
    )
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    refuse: bool = False

    def require_store(self) -> EventStore:
        """The store."""
        return self.store


async def _receive(request: Request, store: EventStore, streams: int = 1) -> dict[str, Any]:
    """Append one CallReceived per stream (each in a transaction of its own)."""
    rt: Runtime = request.app.state.runtime
    rt.entered.set()
    if rt.gate is not None:
        await rt.gate.wait()
    if rt.refuse:
        raise Rejected("this request is refused")
    ids = []
    for _ in range(streams):
        event = call_received(CLIENT)
        await store.append(f"call-{event.call_id}", 0, [event])
        ids.append(str(event.call_id))
    return {"call_ids": ids}


def app_on(rt: Runtime) -> FastAPI:
    """An app with a route of each kind: one command, and a run of several transactions."""
    router = APIRouter(route_class=IdempotentRoute)

    @router.post("/calls", status_code=201, dependencies=[Idempotent])
    async def receive(request: Request, store: Store) -> dict[str, Any]:
        return await _receive(request, store)

    @router.post("/runs", dependencies=[IdempotentRun])
    async def run(request: Request, store: Store) -> dict[str, Any]:
        return await _receive(request, store, streams=2)

    @router.post("/plain", status_code=201)
    async def plain(request: Request, store: Store) -> dict[str, Any]:
        return await _receive(request, store)

    app = FastAPI()
    app.state.runtime = rt
    install_problems(app)
    app.include_router(router)
    return app


@dataclass
class Service:
    """The app over a store, an HTTP client for it, and a way to count the events appended."""

    rt: Runtime
    http: httpx.AsyncClient

    async def events(self) -> int:
        """How many events the store holds."""
        store = self.rt.store
        return int(await store.pool.fetchval(f"SELECT count(*) FROM {store.schema}.events"))

    async def kept(self) -> int:
        """How many keys are kept (answered or reserved)."""
        store = self.rt.store
        query = f"SELECT count(*) FROM {store.schema}.idempotency_keys"
        return int(await store.pool.fetchval(query))


@asynccontextmanager
async def service_on(store: EventStore) -> AsyncIterator[Service]:
    """The test app on `store`, with a client."""
    rt = Runtime(store)
    transport = httpx.ASGITransport(app=app_on(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Service(rt, http)


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    """The app on a rolled-back store."""
    async with rolled_back_store(database_url, "calls", ()) as store, service_on(store) as found:
        yield found


@pytest.fixture
async def racing(database_url: str) -> AsyncIterator[Service]:
    """The app on a committed schema of its own (dropped after), for requests that race."""
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    assert pool is not None
    schema = f"t{uuid4().hex[:10]}_calls"
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, PLUMBING_MIGRATIONS)
        store = EventStore(pool, schema=schema, service="calls", prefix="inproc")
        async with service_on(store) as found:
            yield found
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


# The key's rules, pure.


@pytest.mark.parametrize("key", ["a", "order-7f3a", "x" * 255, '!~"quoted"', "550e8400-e29b"])
def test_a_key_is_one_to_255_visible_ascii_characters(key: str) -> None:
    assert check_key([key]) == key


@pytest.mark.parametrize("keys", [[""], ["x" * 256], ["with space"], ["tab\t"], ["sl\u00fct"],
                                  ["a", "b"]])  # fmt: skip
def test_anything_else_is_refused(keys: list[str]) -> None:
    with pytest.raises(Rejected):
        check_key(keys)


def test_the_fingerprint_tells_requests_apart_by_method_path_body_and_credential() -> None:
    anonymous, staff = credential_of([]), credential_of([("Authorization", "Bearer abc")])
    first = fingerprint("POST", "/calls", b"{}", anonymous)
    assert fingerprint("post", "/calls", b"{}", anonymous) == first
    others = [
        fingerprint("PUT", "/calls", b"{}", anonymous),
        fingerprint("POST", "/calls?x=1", b"{}", anonymous),
        fingerprint("POST", "/calls", b'{"a":1}', anonymous),
        fingerprint("POST", "/calls", b"{}", staff),
    ]
    assert first not in others
    assert len(set(others)) == len(others)


def test_the_credential_is_a_hash_of_the_authorization_or_api_key_header() -> None:
    bearer = credential_of([("authorization", "Bearer abc"), ("accept", "*/*")])
    assert bearer == credential_of([("Authorization", "Bearer abc")])
    assert bearer != credential_of([("x-api-key", "Bearer abc")])
    assert "abc" not in bearer
    assert credential_of([]) == credential_of([("accept", "*/*")])


@pytest.mark.parametrize("service", sorted(CREATING_POSTS))
def test_every_creating_post_of_a_service_takes_the_key(service: Any) -> None:
    app = importlib.import_module(f"services.{service}.app").create_app(
        Settings(service=service, database_url="postgresql://unused")
    )
    paths = app.openapi()["paths"]
    taking = {
        path
        for path, operations in paths.items()
        if any(
            p["name"] == "Idempotency-Key" for p in operations.get("post", {}).get("parameters", [])
        )
    }
    assert taking == CREATING_POSTS[service]
    for path in taking:
        assert {"409", "422"} <= set(paths[path]["post"]["responses"])


# The kept answers, on PostgreSQL.


async def test_a_repeat_gets_the_first_answer_and_appends_no_second_event(
    service: Service,
) -> None:
    first = await service.http.post("/calls", json={"n": 1}, headers=KEY)
    again = await service.http.post("/calls", json={"n": 1}, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await service.events() == 1


async def test_the_same_key_with_another_body_is_refused_with_422(service: Service) -> None:
    await service.http.post("/calls", json={"n": 1}, headers=KEY)
    other = await service.http.post("/calls", json={"n": 2}, headers=KEY)
    assert other.status_code == 422
    assert "Idempotency-Key was used for another request" in other.json()["detail"]
    assert await service.events() == 1


async def test_keys_are_scoped_per_credential(service: Service) -> None:
    for token in ("Bearer staff", "Bearer operator"):
        headers = {**KEY, "Authorization": token}
        assert (await service.http.post("/calls", json={}, headers=headers)).status_code == 201
    assert await service.events() == 2


async def test_without_the_key_every_post_does_its_work(service: Service) -> None:
    for path in ("/calls", "/calls", "/plain"):
        assert (await service.http.post(path, json={})).status_code == 201
    assert await service.events() == 3
    assert await service.kept() == 0


async def test_a_route_without_the_dependency_ignores_the_key(service: Service) -> None:
    for _ in range(2):
        assert (await service.http.post("/plain", json={}, headers=KEY)).status_code == 201
    assert await service.events() == 2
    assert await service.kept() == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "two words"])
async def test_a_malformed_key_is_refused_and_changes_nothing(service: Service, key: str) -> None:
    response = await service.http.post("/calls", json={}, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert "Idempotency-Key must be 1 to 255 visible ASCII characters" in response.json()["detail"]
    assert await service.events() == 0
    assert await service.kept() == 0


async def test_a_refusal_is_not_kept_so_a_repeat_is_decided_again(service: Service) -> None:
    service.rt.refuse = True
    assert (await service.http.post("/calls", json={}, headers=KEY)).status_code == 422
    service.rt.refuse = False
    assert (await service.http.post("/calls", json={}, headers=KEY)).status_code == 201
    assert await service.events() == 1
    assert await service.kept() == 1


async def test_after_the_kept_time_the_key_is_forgotten_and_its_row_cleaned(
    service: Service,
) -> None:
    first = await service.http.post("/calls", json={}, headers=KEY)
    service.rt.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert (await service.http.post("/calls", json={}, headers=KEY)).json() == first.json()
    service.rt.clock.advance(timedelta(seconds=1))
    later = await service.http.post("/calls", json={}, headers={"Idempotency-Key": "other"})
    assert later.status_code == 201
    assert await service.kept() == 1
    again = await service.http.post("/calls", json={}, headers=KEY)
    assert again.status_code == 201
    assert again.json() != first.json()
    assert await service.events() == 3


def test_keys_are_kept_at_least_a_day() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 24"):
        Settings(service="calls", database_url="postgresql://unused", idempotency_hours=1)


async def test_a_concurrent_repeat_gets_409_and_one_call_is_recorded(racing: Service) -> None:
    racing.rt.gate = asyncio.Event()
    first = asyncio.create_task(racing.http.post("/calls", json={}, headers=KEY))
    await racing.rt.entered.wait()  # the first holds the key inside its transaction
    second = await racing.http.post("/calls", json={}, headers=KEY)
    racing.rt.gate.set()
    answered = await first
    assert second.status_code == 409
    assert "still being processed" in second.json()["detail"]
    assert answered.status_code == 201
    again = await racing.http.post("/calls", json={}, headers=KEY)
    assert again.json() == answered.json()
    assert await racing.events() == 1


async def test_concurrent_repeats_record_one_call_and_agree(racing: Service) -> None:
    answers = await asyncio.gather(
        *(racing.http.post("/calls", json={}, headers=KEY) for _ in range(4))
    )
    won = [a for a in answers if a.status_code == 201]
    assert {a.status_code for a in answers} <= {201, 409}
    assert won
    assert len({a.text for a in won}) == 1
    assert await racing.events() == 1


async def test_a_run_reserves_its_key_while_it_runs(racing: Service) -> None:
    racing.rt.gate = asyncio.Event()
    first = asyncio.create_task(racing.http.post("/runs", json={}, headers=KEY))
    await racing.rt.entered.wait()
    second = await racing.http.post("/runs", json={}, headers=KEY)
    other = await racing.http.post("/runs", json={"n": 2}, headers=KEY)
    racing.rt.gate.set()
    answered = await first
    assert (second.status_code, other.status_code, answered.status_code) == (409, 422, 200)
    again = await racing.http.post("/runs", json={}, headers=KEY)
    assert again.json() == answered.json()
    assert await racing.events() == 2


async def test_a_failed_run_releases_its_key(racing: Service) -> None:
    racing.rt.refuse = True
    assert (await racing.http.post("/runs", json={}, headers=KEY)).status_code == 422
    assert await racing.kept() == 0
    racing.rt.refuse = False
    assert (await racing.http.post("/runs", json={}, headers=KEY)).status_code == 200
    assert await racing.events() == 2


async def test_a_crashed_runs_reservation_blocks_until_its_lease_ends(service: Service) -> None:
    store, claim = service.rt.store, _claim("/runs", b"{}")
    lease_end = START + timedelta(seconds=service.rt.settings.idempotency_lease_seconds)
    async with store.transaction() as conn:  # what a run that crashed after reserving leaves
        await keep(conn, store.schema, claim, None, now=START, until=lease_end)
    assert (await service.http.post("/runs", json={}, headers=KEY)).status_code == 409
    service.rt.clock.set(lease_end)
    assert (await service.http.post("/runs", json={}, headers=KEY)).status_code == 200
    assert await service.events() == 2


async def test_the_store_rules_on_their_own(service: Service) -> None:
    store, claim = service.rt.store, _claim("/calls", b"{}")
    answer = Answer(201, [("content-type", "application/json")], b'{"ok":true}')
    async with store.transaction() as conn:
        assert await look_up(conn, store.schema, claim, START) is None
        await keep(conn, store.schema, claim, answer, now=START, until=START + timedelta(days=1))
        assert await look_up(conn, store.schema, claim, START) == answer
        with pytest.raises(Rejected):
            await look_up(conn, store.schema, _claim("/calls", b"[]"), START)
        assert await look_up(conn, store.schema, claim, START + timedelta(days=1)) is None
        await keep(conn, store.schema, claim, None, now=START, until=START + timedelta(hours=1))
        with pytest.raises(Conflict):
            await look_up(conn, store.schema, claim, START)


def _claim(path: str, body: bytes) -> Claim:
    credential = credential_of([])
    return Claim(credential, KEY["Idempotency-Key"], fingerprint("POST", path, body, credential))
