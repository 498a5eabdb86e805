"""Who may call which routing route, in-process on a rolled-back PostgreSQL transaction.

The API runs as a caller each test chooses (the `principal` dependency overridden), standing in
for a verified bearer token or API key; one test goes through a real issued API key. The
acknowledgement link and the TwiML webhook stay public: their token or signature is the proof.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from libs.events import CallReceived, Event
from libs.events.envelope import Actor
from libs.platform import api_keys
from libs.platform.auth import ANONYMOUS, Principal, principal
from libs.platform.consumer import HandlerContext
from libs.platform.http import event_store
from libs.platform.problems import install_problems
from libs.platform.settings import Settings
from libs.twilio import compute_signature
from services.routing import api, directory, escalations, reactions, telephony
from services.routing.domain.roster import operator_stream
from services.routing.links import ack_token
from services.routing.migrations import MIGRATIONS
from services.routing.settings import RoutingSettings
from tests.support.access import OPERATOR as ANNA
from tests.support.access import (
    STAFF,
    client_user,
    issued_key,
    misfits,
    operator_key,
    routes,
    rows,
    stand_ins,
)
from tests.support.builders import (
    book_revised,
    call_received,
    contacts,
    escalation_requested,
    leak_rule,
    registered,
)
from tests.support.rollback import RolledBackStore, rolled_back_store

pytestmark = [pytest.mark.infra]

T0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Amsterdam
ACK_SECRET = "test-access-ack-secret"
TWILIO_TOKEN = "test-access-twilio-token"
CONFIG = RoutingSettings(ack_secret=ACK_SECRET, twilio_auth_token=TWILIO_TOKEN)
SETTINGS = Settings(service="routing", database_url="postgresql://unused")


@dataclass
class Routing:
    """Routing's store, two clients (A with an escalated call), and the API acting as `caller`."""

    store: RolledBackStore
    http: httpx.AsyncClient
    client_a: UUID
    client_b: UUID
    call: CallReceived
    escalation_id: UUID
    acting: dict[str, Principal] = field(default_factory=lambda: {"as": STAFF})

    def act_as(self, caller: Principal) -> None:
        """Make the following requests the caller's."""
        self.acting["as"] = caller

    async def history(self, stream: str) -> list[Event]:
        """One of routing's streams."""
        return await escalations.history(self.store.conn, self.store.schema, stream)


async def known_client(store: RolledBackStore) -> UUID:
    """A client routing learned from intake, whose book v1 escalates leaks to three contacts."""
    signed_up = registered(at=T0 - timedelta(days=1))
    book = book_revised(
        signed_up.client_id, at=signed_up.occurred_at, urgency_rules=(leak_rule(),),
        escalation_contacts=contacts(3),
    )  # fmt: skip
    await directory.client_registered(signed_up, store.conn, store.schema)
    await directory.book_revised(book, store.conn, store.schema)
    return signed_up.client_id


async def react(store: RolledBackStore, event: Event) -> None:
    """Hand a calls event to routing's reaction, as its consumer would, at T0."""
    handler = reactions.calls_handlers(CONFIG)[event.type]
    await handler(event, HandlerContext(conn=store.conn, store=store, now=lambda: T0))


def app_on(store: RolledBackStore, acting: dict[str, Principal] | None) -> FastAPI:
    """Routing's routers on the store; as `acting["as"]`, or through real credentials if None."""
    app = FastAPI()
    install_problems(app)
    app.include_router(api.router)
    app.include_router(telephony.router)
    app.state.service_settings = CONFIG
    app.state.runtime = SimpleNamespace(
        clock=SimpleNamespace(now=lambda: T0 + timedelta(minutes=1)),
        settings=SETTINGS,
        require_store=lambda: store,
    )
    app.state.api_keys = api_keys.check
    app.dependency_overrides[event_store] = lambda: store
    if acting is not None:
        app.dependency_overrides[principal] = lambda: acting["as"]
    return app


@pytest.fixture
async def routing(database_url: str) -> AsyncIterator[Routing]:
    """Routing in-process on a rolled-back schema: clients A and B, a call of A escalated."""
    async with rolled_back_store(database_url, "routing", MIGRATIONS, "test") as store:
        client_a, client_b = await known_client(store), await known_client(store)
        call = call_received(client_a, T0 - timedelta(minutes=2))
        request = escalation_requested(call, T0)
        await react(store, call)
        await react(store, request)
        acting = {"as": STAFF}
        transport = httpx.ASGITransport(app=app_on(store, acting))
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as http:
            yield Routing(store, http, client_a, client_b, call, request.escalation_id, acting)


# Roles: 401 for nobody, 403 for a role the route does not admit ----------------------------


async def answers(routing: Routing, caller: str) -> dict[str, int]:
    """The status of each role-guarded route for one of the table's callers, as it says."""
    routing.act_as(stand_ins(routing.client_a, routing.client_b)[caller])
    e, c = routing.escalation_id, routing.call.call_id
    http = routing.http
    found = {
        "GET /operators": await http.get("/operators"),
        "GET /operators/{operator_id}": await http.get("/operators/op-anna"),
        "PUT /operators/{operator_id}": await http.put(
            "/operators/op-new", json={"name": "New", "languages": ["nl"]}
        ),
        "PUT /operators/{operator_id}/presence": await http.put(
            "/operators/op-anna/presence", json={"presence": "available"}
        ),
        "GET /operators/{operator_id}/feed": await http.get(
            "/operators/op-anna/feed", params={"once": "true"}
        ),
        "GET /escalations/{escalation_id}": await http.get(f"/escalations/{e}"),
        "GET /calls/{call_id}/routing": await http.get(f"/calls/{c}/routing"),
        "POST /escalations/{escalation_id}/ack": await http.post(
            f"/escalations/{e}/ack", json={"by": "X"}
        ),
    }
    statuses = {route: response.status_code for route, response in found.items()}
    assert misfits("routing", caller, statuses) == []
    return statuses


async def test_each_role_reaches_only_the_routes_the_table_gives_it(routing: Routing) -> None:
    routing.act_as(STAFF)
    put = await routing.http.put("/operators/op-anna", json={"name": "Anna", "languages": ["nl"]})
    assert put.status_code == 200, put.text
    assert set((await answers(routing, "anonymous")).values()) == {401}
    assert await answers(routing, "client_a") == {
        "GET /operators": 403, "GET /operators/{operator_id}": 403,
        "PUT /operators/{operator_id}": 403, "PUT /operators/{operator_id}/presence": 403,
        "GET /operators/{operator_id}/feed": 403,
        "GET /escalations/{escalation_id}": 200, "GET /calls/{call_id}/routing": 403,
        "POST /escalations/{escalation_id}/ack": 403,
    }  # fmt: skip
    assert await answers(routing, "client_b") == {
        "GET /operators": 403, "GET /operators/{operator_id}": 403,
        "PUT /operators/{operator_id}": 403, "PUT /operators/{operator_id}/presence": 403,
        "GET /operators/{operator_id}/feed": 403,
        "GET /escalations/{escalation_id}": 404, "GET /calls/{call_id}/routing": 403,
        "POST /escalations/{escalation_id}/ack": 403,
    }  # fmt: skip
    assert await answers(routing, "operator") == {
        "GET /operators": 200, "GET /operators/{operator_id}": 200,
        "PUT /operators/{operator_id}": 403, "PUT /operators/{operator_id}/presence": 200,
        "GET /operators/{operator_id}/feed": 200,
        "GET /escalations/{escalation_id}": 200, "GET /calls/{call_id}/routing": 200,
        "POST /escalations/{escalation_id}/ack": 200,
    }  # fmt: skip


def test_the_access_table_has_a_row_for_every_routing_route_and_no_other() -> None:
    served = routes(api.router) | routes(telephony.router)
    assert {row.route for row in rows("routing", ops=False)} == served


async def test_staff_manage_the_roster_and_are_the_actor_of_its_events(routing: Routing) -> None:
    routing.act_as(STAFF)
    body = {"name": "Anna", "languages": ["nl"]}
    assert (await routing.http.put("/operators/op-anna", json=body)).status_code == 200
    [registered_event] = await routing.history(operator_stream("op-anna"))
    assert registered_event.actor == Actor(kind="staff", id="staff-eva")


# Presence: an operator's own only ---------------------------------------------------------


async def test_an_operator_sets_only_their_own_presence_and_staff_anyones(routing: Routing) -> None:
    routing.act_as(STAFF)
    for operator_id in ("op-anna", "op-bob"):
        body = {"name": operator_id, "languages": ["nl"]}
        assert (await routing.http.put(f"/operators/{operator_id}", json=body)).status_code == 200
    routing.act_as(ANNA)
    own = await routing.http.put("/operators/op-anna/presence", json={"presence": "available"})
    assert (own.status_code, own.json()["presence"]) == (200, "available")
    other = await routing.http.put("/operators/op-bob/presence", json={"presence": "available"})
    assert other.status_code == 403, other.text
    nobody = await routing.http.put("/operators/op-nobody/presence", json={"presence": "busy"})
    assert nobody.status_code == 403, "whether someone else exists is not an operator's to learn"
    routing.act_as(STAFF)
    by_staff = await routing.http.put("/operators/op-bob/presence", json={"presence": "busy"})
    assert (by_staff.status_code, by_staff.json()["presence"]) == (200, "busy")
    anna, bob = [await routing.history(operator_stream(o)) for o in ("op-anna", "op-bob")]
    assert [e.actor for e in anna[1:]] == [Actor(kind="operator", id="op-anna")]
    assert [e.actor for e in bob[1:]] == [Actor(kind="staff", id="staff-eva")]


# Tenants: another client's escalation is one that does not exist --------------------------


async def test_another_clients_escalation_answers_exactly_as_an_unknown_one(
    routing: Routing,
) -> None:
    routing.act_as(client_user(routing.client_a))
    own = await routing.http.get(f"/escalations/{routing.escalation_id}")
    assert (own.status_code, own.json()["client_id"]) == (200, str(routing.client_a))
    routing.act_as(client_user(routing.client_b))
    hidden = await routing.http.get(f"/escalations/{routing.escalation_id}")
    unknown_id = uuid4()
    unknown = await routing.http.get(f"/escalations/{unknown_id}")
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.headers["content-type"] == unknown.headers["content-type"]
    shape = unknown.json() | {"detail": unknown.json()["detail"].replace(str(unknown_id), "ID")}
    id_ = str(routing.escalation_id)
    assert hidden.json() | {"detail": hidden.json()["detail"].replace(id_, "ID")} == shape


async def test_an_operator_key_of_another_client_neither_sees_nor_acknowledges(
    routing: Routing,
) -> None:
    routing.act_as(operator_key(routing.client_b))
    e, c = routing.escalation_id, routing.call.call_id
    assert (await routing.http.get(f"/escalations/{e}")).status_code == 404
    assert (await routing.http.get(f"/calls/{c}/routing")).status_code == 404
    refused = await routing.http.post(f"/escalations/{e}/ack", json={"by": "X"})
    assert refused.status_code == 404
    assert [x.type for x in await routing.history(f"escalation-{e}")] == ["EscalationDispatched"]
    routing.act_as(operator_key(routing.client_a))
    assert (await routing.http.get(f"/calls/{c}/routing")).status_code == 200


# The acknowledgement: the caller is its actor, no operator_id from the body ------------------


async def test_an_acknowledgement_is_the_callers_and_takes_no_operator_id(routing: Routing) -> None:
    routing.act_as(ANNA)
    path = f"/escalations/{routing.escalation_id}/ack"
    claimed = await routing.http.post(path, json={"by": "Contact 0", "operator_id": "op-bob"})
    assert claimed.status_code == 422, "who acknowledged comes from the credential"
    acked = await routing.http.post(path, json={"by": "Contact 0"})
    assert (acked.status_code, acked.json()["state"]) == (200, "acknowledged"), acked.text
    last = (await routing.history(f"escalation-{routing.escalation_id}"))[-1]
    assert (last.type, last.actor) == (
        "EscalationAcknowledged",
        Actor(kind="operator", id="op-anna"),
    )


# Public routes: the link's token and Twilio's signature are the credential -----------------


async def test_the_link_page_and_its_button_need_no_credential_nor_idempotency_key(
    routing: Routing,
) -> None:
    routing.act_as(ANONYMOUS)
    link = f"/escalations/{routing.escalation_id}/ack"
    good = {"token": ack_token(ACK_SECRET, routing.escalation_id, 1)}
    assert (await routing.http.get(link, params=good)).status_code == 200
    forged = {"token": ack_token("another-secret", routing.escalation_id, 1)}
    assert (await routing.http.post(f"{link}/link", data=forged)).status_code == 403
    pressed = await routing.http.post(f"{link}/link", data=good)
    assert (pressed.status_code, "Contact 0" in pressed.text) == (200, True), pressed.text
    last = (await routing.history(f"escalation-{routing.escalation_id}"))[-1]
    assert (last.type, last.actor) == (
        "EscalationAcknowledged",
        Actor(kind="client", id="ack-link:1"),
    )


async def test_the_twiml_webhook_needs_twilios_signature_and_nothing_else(
    routing: Routing,
) -> None:
    routing.act_as(ANONYMOUS)
    path = f"/escalations/{routing.escalation_id}/twiml"
    params = {"CallSid": f"CA{uuid4().hex}", "To": "+31851234567"}
    signature = compute_signature(TWILIO_TOKEN, f"http://routing{path}", params.items())
    signed = await routing.http.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert signed.status_code == 200, signed.text
    unsigned = await routing.http.post(path, data=params)
    assert unsigned.status_code == 403


# API keys: routing keeps intake's keys itself ------------------------------------------------


async def test_an_issued_key_is_kept_from_intakes_topic_and_makes_its_client_the_caller(
    routing: Routing,
) -> None:
    handlers = directory.subscription(SETTINGS).handlers
    assert {"ApiKeyIssued", "ApiKeyRevoked"} <= set(handlers)
    issued, key = issued_key(routing.client_a, T0)
    ctx = HandlerContext(conn=routing.store.conn, store=routing.store, now=lambda: T0)
    await handlers["ApiKeyIssued"](issued, ctx)
    transport = httpx.ASGITransport(app=app_on(routing.store, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as http:
        path = f"/escalations/{routing.escalation_id}"
        own = await http.get(path, headers={"X-Api-Key": key})
        assert (own.status_code, own.json()["client_id"]) == (200, str(routing.client_a))
        assert (await http.get("/operators", headers={"X-Api-Key": key})).status_code == 403
        assert (await http.get(path)).status_code == 401
        bad = key[:-4] + "AAAA"
        assert (await http.get(path, headers={"X-Api-Key": bad})).status_code == 401
