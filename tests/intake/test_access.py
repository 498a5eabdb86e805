"""Who may call which intake route, in-process: the committed table, tenants and actors.

Intake's API runs in-process on a rolled-back PostgreSQL transaction. Each caller of the
table in tests/security/access.csv is a principal put in place of the signed-in one (no
identity provider needed), except the API key, which is a real issued key checked the way
every request's key is. Resources in paths belong to client A, as in the table.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI, Request

from libs.events import Actor, Event, NotificationPreferences, PerCallPlan, new_id
from libs.platform.api_keys import check, new_key, parse
from libs.platform.auth import ANONYMOUS, Principal, principal
from libs.platform.http import event_store
from libs.platform.problems import install_problems
from services.intake import (
    api,
    billing_api,
    book_requests_api,
    handover_api,
    numbers_api,
    onboarding_api,
)
from services.intake.commands import client_stream, execute
from services.intake.domain.commands import (
    AssignNumber,
    BookContent,
    IssueApiKey,
    RegisterClient,
    ReviseBook,
)
from services.intake.migrations import MIGRATIONS
from services.intake.screen_pops import ScreenPops
from services.intake.settings import IntakeSettings
from tests.support.access import CALLERS, Row, fits, routes, rows, stand_ins
from tests.support.builders import fresh_number
from tests.support.rollback import RolledBackStore, rolled_back_store

pytestmark = [pytest.mark.infra]
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Intake:
    """Intake's API in-process, clients A and B with a number each, and A's keys."""

    store: RolledBackStore
    a: UUID = field(default_factory=new_id)
    b: UUID = field(default_factory=new_id)
    number_a: str = field(default_factory=fresh_number)
    number_b: str = field(default_factory=fresh_number)
    key: str = ""
    other_key_id: UUID = field(default_factory=new_id)
    caller: Principal | None = ANONYMOUS
    http: httpx.AsyncClient = field(init=False)

    def principals(self) -> dict[str, Principal | None]:
        """The table's callers; None for the API key, which goes through the real check."""
        return {**stand_ins(self.a, self.b), "api_key": None}

    async def as_(
        self, caller: str | Principal, method: str, url: str, **kw: Any
    ) -> httpx.Response:
        """Send a request as one of the table's callers (or as this principal)."""
        self.caller = self.principals()[caller] if isinstance(caller, str) else caller
        headers = {"X-Api-Key": self.key} if self.caller is None else {}
        return await self.http.request(method, url, headers=headers, **kw)

    async def events(self, client_id: UUID) -> list[Event]:
        """The client's own stream."""
        return [s.event for s in await self.store.load(client_stream(client_id))]


async def _client(intake: Intake, client_id: UUID, number: str) -> None:
    notification = NotificationPreferences(recipients=("kantoor@vandijk.example",))
    for command in (
        RegisterClient(client_id=client_id, at=AT, name=f"Klant {client_id.hex[:6]}",
                       contact_email="kantoor@vandijk.example", language="nl",
                       plan=PerCallPlan(), notification=notification),
        AssignNumber(client_id=client_id, at=AT, number=number),
        ReviseBook(client_id=client_id, at=AT, content=BookContent(greeting="Goedemorgen")),
    ):  # fmt: skip
        await execute(intake.store, command)


async def _key(intake: Intake, key_id: UUID) -> str:
    made = new_key(key_id)
    command = IssueApiKey(client_id=intake.a, at=AT, key_id=key_id, role="client",
                          name="A's CRM", secret_sha256=made.secret_sha256)  # fmt: skip
    await execute(intake.store, command)
    return made.key


BILLING_DETAILS = {
    "legal_name": "Van Dijk B.V.", "address_lines": ["Markt 1"], "postcode": "5211 AB",
    "city": "'s-Hertogenbosch", "vat_number": "NL001234567B01",
}  # fmt: skip
ROUTERS = (
    numbers_api.router,
    api.router,
    onboarding_api.router,
    handover_api.router,
    billing_api.router,
    book_requests_api.router,
)
"""Intake's routers in the order services/intake/app.py includes them (the pool's first)."""


def _app(intake: Intake) -> FastAPI:
    app = FastAPI()
    install_problems(app)
    for router in ROUTERS:
        app.include_router(router)
    app.state.runtime = SimpleNamespace(
        clock=SimpleNamespace(now=lambda: AT),
        settings=SimpleNamespace(auth_staff_keys_sha256=[]),
        require_store=lambda: intake.store,
    )
    app.state.api_keys = check
    app.state.service_settings = IntakeSettings()
    app.state.screen_pops = ScreenPops(max_age=0)  # nothing kept: every pop reads the tables

    async def acting(request: Request) -> Principal:
        return intake.caller if intake.caller is not None else await principal(request)

    app.dependency_overrides[event_store] = lambda: intake.store
    app.dependency_overrides[principal] = acting
    return app


@pytest.fixture
async def intake(database_url: str) -> AsyncIterator[Intake]:
    """Intake in-process on a rolled-back schema, with clients A and B and A's keys issued."""
    async with rolled_back_store(database_url, "intake", MIGRATIONS) as store:
        found = Intake(store)
        await _client(found, found.a, found.number_a)
        await _client(found, found.b, found.number_b)
        found.key = await _key(found, new_id())
        await _key(found, found.other_key_id)
        transport = httpx.ASGITransport(app=_app(found))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
            found.http = http
            yield found


def request_of(intake: Intake, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The URL and a valid body for a route of the table, aimed at client A's resources."""
    url = path.format(client_id=intake.a, number=intake.number_a, key_id=intake.other_key_id)
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/clients"): {"name": "Nieuw BV", "contact_email": "a@vandijk.example",
                               "language": "nl"},
        ("PUT", "/clients/{client_id}/notification"): {"recipients": ["b@vandijk.example"]},
        ("PUT", "/clients/{client_id}/office-hours"): {},
        ("POST", "/clients/{client_id}/numbers"): {"number": fresh_number()},
        ("PUT", "/clients/{client_id}/book"): {"greeting": "Goedemiddag"},
        ("POST", "/clients/{client_id}/plan"): {"plan": {"mode": "per_call"},
                                                "effective_from": "2026-02-01"},
        ("POST", "/api-keys"): {"client_id": str(intake.a), "role": "client", "name": "ERP"},
        ("POST", "/numbers"): {"numbers": [fresh_number()]},
        ("POST", "/clients/{client_id}/onboarding/enquiry"): {"contact_name": "Jan"},
        ("POST", "/clients/{client_id}/book/hand-over"): {"format": "json"},
        ("POST", "/clients/{client_id}/book/change-requests"): {"text": "Ook Breda noemen"},
        ("PUT", "/clients/{client_id}/billing-details"): BILLING_DETAILS,
        ("POST", "/clients/{client_id}/quote"): {"valid_until": "2026-02-01"},
        ("POST", "/clients/{client_id}/onboarding/terms"): {"terms_version": "2026-01",
                                                            "accepted_by": "Jan"},
    }  # fmt: skip
    body = bodies.get((method, path))
    return url, {} if body is None else {"json": body}


def _unknown_client_path(intake: Intake, url: str, unknown: UUID) -> str:
    return url.replace(str(intake.a), str(unknown))


def _without_ids(answer: httpx.Response) -> Any:
    return UUIDS.sub("<id>", answer.text)


def test_the_table_names_every_intake_route() -> None:
    served = set().union(*(routes(r) for r in ROUTERS))
    assert {row.route for row in rows("intake", ops=False)} == served


@pytest.mark.parametrize("row", rows("intake", ops=False), ids=lambda row: row.route)
async def test_each_caller_gets_what_the_access_table_says(intake: Intake, row: Row) -> None:
    method = row.method
    for caller in CALLERS:
        url, body = request_of(intake, method, row.path)
        answer = await intake.as_(caller, method, url, **body)
        want = row.expected[caller]
        assert fits(want, answer.status_code), (caller, answer.status_code, answer.text)
        if want == "404":  # exactly what a client that does not exist gets: nothing leaks
            unknown = await intake.as_("staff", method, _unknown_client_path(intake, url, uuid4()),
                                       **body)  # fmt: skip
            assert answer.status_code == unknown.status_code
            assert _without_ids(answer) == _without_ids(unknown)


async def test_a_client_lists_only_itself_and_the_desk_lists_everyone(intake: Intake) -> None:
    for caller, expected in (
        ("client_a", {intake.a}),
        ("api_key", {intake.a}),
        ("client_b", {intake.b}),
        ("operator", {intake.a, intake.b}),
        ("staff", {intake.a, intake.b}),
    ):
        listed = await intake.as_(caller, "GET", "/clients")
        assert listed.status_code == 200, listed.text
        assert {UUID(c["client_id"]) for c in listed.json()} == expected, caller


async def test_a_desk_key_of_one_client_pops_only_that_clients_screens(intake: Intake) -> None:
    desk_key = Principal("api-key:desk", "A's desk", "operator", intake.a, "api_key")
    own = await intake.as_(desk_key, "GET", f"/numbers/{intake.number_a}")
    assert (own.status_code, own.json()["client_id"]) == (200, str(intake.a))
    other = await intake.as_(desk_key, "GET", f"/numbers/{intake.number_b}")
    free = fresh_number()
    nobody = await intake.as_(desk_key, "GET", f"/numbers/{free}")
    assert (other.status_code, nobody.status_code) == (404, 404)
    assert other.text.replace(intake.number_b, "N") == nobody.text.replace(free, "N")
    assert (await intake.as_(desk_key, "GET", f"/clients/{intake.b}")).status_code == 404


async def test_another_clients_id_is_404_whatever_the_body(intake: Intake) -> None:
    url = f"/clients/{intake.a}/notification"
    for body in ({"recipients": ["b@vandijk.example"]}, {"recipients": "nonsense"}, {"x": 1}):
        answer = await intake.as_("client_b", "PUT", url, json=body)
        assert answer.status_code == 404, answer.text
    assert [e.type for e in await intake.events(intake.a)][-1] == "SecretaryBookRevised"


async def test_the_caller_is_the_actor_of_the_events_it_causes(intake: Intake) -> None:
    body = {"recipients": ["b@vandijk.example"]}
    changed = await intake.as_("client_a", "PUT", f"/clients/{intake.a}/notification", json=body)
    assert changed.status_code == 200, changed.text
    revised = await intake.as_(
        "staff", "PUT", f"/clients/{intake.a}/book", json={"greeting": "Hoi"}
    )
    assert revised.status_code == 200, revised.text
    *_, notification, book = await intake.events(intake.a)
    assert notification.actor == Actor(kind="client", id=f"user-{intake.a}")
    assert book.actor == Actor(kind="staff", id="staff-eva")
    key_id, _ = parse(intake.key)
    assert (await intake.as_("api_key", "PUT", f"/clients/{intake.a}/notification", json=body)
            ).status_code == 200  # fmt: skip
    *_, by_key = await intake.events(intake.a)
    assert by_key.actor == Actor(kind="client", id=f"api-key:{key_id}")


async def test_an_issued_key_works_at_once_and_a_revoked_one_is_refused(intake: Intake) -> None:
    body = {"client_id": str(intake.b), "role": "client", "name": "B's CRM"}
    issued = await intake.as_("staff", "POST", "/api-keys", json=body)
    assert issued.status_code == 201, issued.text
    intake.key = issued.json()["key"]
    assert (await intake.as_("api_key", "GET", f"/clients/{intake.b}")).status_code == 200
    assert (await intake.as_("api_key", "GET", f"/clients/{intake.a}")).status_code == 404
    key_id = issued.json()["key_id"]
    assert (await intake.as_("staff", "DELETE", f"/api-keys/{key_id}")).status_code == 204
    refused = await intake.as_("api_key", "GET", f"/clients/{intake.b}")
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    again = await intake.as_("staff", "DELETE", f"/api-keys/{key_id}")
    assert again.status_code == 409
    assert (await intake.as_("staff", "DELETE", f"/api-keys/{uuid4()}")).status_code == 404


async def test_keys_are_issued_only_for_clients_that_exist_and_have_not_left(
    intake: Intake,
) -> None:
    unknown = {"client_id": str(uuid4()), "role": "client", "name": "CRM"}
    assert (await intake.as_("staff", "POST", "/api-keys", json=unknown)).status_code == 404
    left = await intake.as_("staff", "POST", f"/clients/{intake.b}/offboard")
    assert left.status_code == 200, left.text
    gone = {"client_id": str(intake.b), "role": "operator", "name": "CRM"}
    refused = await intake.as_("staff", "POST", "/api-keys", json=gone)
    assert refused.status_code == 409, refused.text
    for bad in ({**gone, "role": "staff"}, {**gone, "role": "telephony"}, {**gone, "name": ""}):
        assert (await intake.as_("staff", "POST", "/api-keys", json=bad)).status_code == 422


async def test_the_list_of_keys_shows_no_secret(intake: Intake) -> None:
    listed = await intake.as_("staff", "GET", "/api-keys", params={"client_id": str(intake.a)})
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == 2
    assert set(listed.json()[0]) == {
        "key_id", "client_id", "role", "name", "issued_at", "revoked_at"
    }  # fmt: skip
    _, secret = parse(intake.key)
    assert secret not in listed.text
    assert (await intake.as_("staff", "GET", "/api-keys", params={"client_id": str(intake.b)})
            ).json() == []  # fmt: skip
    rows = await intake.store.pool.fetch(f"SELECT * FROM {intake.store.schema}.events")
    assert not any(secret in str(dict(row)) for row in rows)


async def test_a_client_asks_for_a_book_change_and_staff_read_it(intake: Intake) -> None:
    path = f"/clients/{intake.a}/book/change-requests"
    asked = await intake.as_("client_a", "POST", path, json={"text": "Noem ook Breda"})
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["text"], request["book_version"]) == ("Noem ook Breda", 1)
    assert request["requested_by"].startswith("client:")
    listed = await intake.as_("staff", "GET", path)
    assert [r["request_id"] for r in listed.json()] == [request["request_id"]]
    assert (await intake.as_("client_b", "GET", path)).status_code == 404
    assert (await intake.as_("client_b", "POST", path, json={"text": "x"})).status_code == 404
    for bad in ({"text": ""}, {"text": "a\u0000b"}, {"text": "x" * 5001}, {"txt": "x"}):
        assert (await intake.as_("client_a", "POST", path, json=bad)).status_code == 422, bad
    assert len((await intake.as_("client_a", "GET", path)).json()) == 1  # nothing else kept
    left = await intake.as_("staff", "POST", f"/clients/{intake.b}/offboard")
    assert left.status_code == 200, left.text
    gone = f"/clients/{intake.b}/book/change-requests"
    assert (await intake.as_("staff", "POST", gone, json={"text": "x"})).status_code == 409
