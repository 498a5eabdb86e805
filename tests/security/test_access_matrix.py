"""Who may do what, route by route: every route of every service against a committed table.

All five services run as real processes on a private simulated clock, signing in against the
session's real Keycloak. Staff set up two clients, A and B, each with a number, a book and
a noted, escalated call; A also gets a notification, an invoice, a credit note and an API key.
Then every route of every service's OpenAPI (and /metrics, which is not in it) is called by
six callers: anonymous, an operator, a user of client A, a user of client B, staff, and A's
API key; each answer is compared with tests/security/access.csv. Paths name A's resources,
so B must get the 404 of a resource that does not exist; a list must hold only the caller's
own client's rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import aiosmtplib
import httpx
import pytest

from libs.devstack.keycloak import REALM
from libs.devstack.smtp import smtp_server
from tests.conftest import Infrastructure
from tests.support.access import CALLERS, SERVICES, Row, fits, rows
from tests.support.clock import amsterdam, first_of_next_month, private_clock, working_day
from tests.support.credentials import STAFF
from tests.support.keycloak import FOREIGN_REALM, SHORT_LIVED_CLIENT, Keycloak
from tests.support.pipeline import wait_until
from tests.support.stack import World, expect, get_when, new_world

pytestmark = [pytest.mark.infra]

PASSWORD = "matrix-demo"
OPERATOR_USER = "operator-1"
DESTRUCTIVE = ("DELETE /clients/{client_id}/numbers/{number}", "POST /clients/{client_id}/offboard")
"""Run last: after them client A is no longer what the other rows expect."""
NUMBERS = {"a": "+31850000001", "b": "+31850000002"}
NOTE = {"caller_name": "Piet Jansen", "message": "Please call back", "follow_up": "call_back"}
BOOK = {
    "greeting": "Goedemorgen",
    "urgency_rules": [
        {"kind": "outage", "description": "No heating", "channels": ["email"]},
    ],
    "escalation_contacts": [{"name": "Jan", "email": "jan@bakker.example"}],
}
TWILIO_TOKEN = "matrix-twilio-token"
MAILBOX = {"client_address": "info@bakker.example", "answer_within_minutes": 240,
           "send_as": "on_behalf"}  # fmt: skip


@dataclass
class Tokens:
    """Keycloak access tokens of the matrix's users, fetched again before they expire."""

    keycloak: Keycloak
    users: dict[str, str]
    fetched: dict[str, tuple[float, str]] = field(default_factory=dict)

    async def of(self, caller: str) -> str:
        """A fresh-enough token of a caller (at most two minutes old)."""
        held = self.fetched.get(caller)
        if held is None or time.monotonic() - held[0] > 120:
            user = self.users[caller]
            token = await self.keycloak.token(user, password=self.password(user))
            self.fetched[caller] = (time.monotonic(), token)
        return self.fetched[caller][1]

    @staticmethod
    def password(user: str) -> str:
        """Matrix users have the matrix password; the realm's own their demo one."""
        return PASSWORD if user.startswith("matrix-") else ""


@dataclass
class Matrix:
    """The running services, the set-up resources and how to call as each caller."""

    urls: dict[str, str]
    http: httpx.AsyncClient
    tokens: Tokens
    api_key: str
    ids: dict[str, str]
    clients: dict[str, UUID]
    operator_id: str

    async def headers(self, caller: str) -> dict[str, str]:
        """The credential headers a caller sends."""
        if caller == "anonymous":
            return {}
        if caller == "staff" or caller in self.tokens.users:
            return {"Authorization": f"Bearer {await self.tokens.of(caller)}"}
        assert caller == "api_key"
        return {"X-Api-Key": self.api_key}

    async def call(self, caller: str, row: Row) -> httpx.Response:
        """The row's route called by `caller` with a body that passes validation."""
        path = self.fill(row.path)
        headers = await self.headers(caller)
        url = f"{self.urls[row.service]}{path}"
        form = row.path.startswith(("/calls/twilio/", "/escalations/{escalation_id}/twiml"))
        if row.route == "POST /escalations/{escalation_id}/ack/link":
            return await self.http.post(url, data={"token": "not-a-token"}, headers=headers)
        if row.route == "GET /escalations/{escalation_id}/ack":
            return await self.http.get(url, params={"token": "not-a-token"}, headers=headers)
        if form:
            return await self.http.post(url, data={"CallSid": "CA1"}, headers=headers)
        body, params = self.body(row), self.query(row)
        if body is None:
            return await self.http.request(row.method, url, headers=headers, params=params)
        return await self.http.request(row.method, url, json=body, headers=headers, params=params)

    def query(self, row: Row) -> dict[str, str]:
        """The query parameters a route needs to pass validation (a feed: to end, not stay open)."""
        if row.route == "GET /operators/{operator_id}/feed":
            return {"once": "true"}
        return {"period": self.ids["period"]} if row.route.endswith("/usage") else {}

    def fill(self, template: str) -> str:
        """A path with A's resources in its parameters."""
        path = template
        for name, value in self.ids.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"no resource for {template}"
        return path

    def body(self, row: Row) -> Any:
        """A valid JSON body for the row's route, or None for routes that take none."""
        a = str(self.clients["a"])
        period = self.ids["period"]
        hour, later = self.ids["appointment_start"], self.ids["appointment_end"]
        bodies: dict[str, Any] = {
            "POST /clock": {"advance_seconds": 0},
            "POST /clients": {
                "name": f"Matrix {uuid4().hex[:6]}",
                "contact_email": "new@client.example",
                "language": "nl",
            },
            "POST /clients/{client_id}/offboard": {"reason": "matrix"},
            "POST /clients/{client_id}/offboard/cancel": {"reason": "matrix"},
            "PUT /clients/{client_id}/notification": {
                "mode": "per_call",
                "recipients": ["jan@bakker.example"],
            },
            "PUT /clients/{client_id}/office-hours": {},
            "POST /clients/{client_id}/numbers": {"number": "+31850000009"},
            "POST /numbers": {"numbers": ["+31850000019"]},
            "POST /clients/{client_id}/onboarding/enquiry": {"contact_name": "Jan"},
            "POST /clients/{client_id}/quote": {"valid_until": self.ids["next_month"]},
            "POST /clients/{client_id}/onboarding/terms": {
                "terms_version": "2026-01",
                "accepted_by": "Jan",
            },
            "POST /clients/{client_id}/onboarding/intake-form": None,
            "POST /clients/{client_id}/onboarding/telephony": None,
            "POST /clients/{client_id}/onboarding/telephony-done": None,
            "PUT /clients/{client_id}/book": BOOK,
            "POST /clients/{client_id}/book/hand-over": {"format": "json"},
            "POST /clients/{client_id}/book/change-requests": {"text": "Ook Breda noemen"},
            "PUT /clients/{client_id}/billing-details": {
                "legal_name": "Matrix B.V.",
                "address_lines": ["Markt 1"],
                "postcode": "5211 AB",
                "city": "'s-Hertogenbosch",
            },
            "POST /clients/{client_id}/plan": {
                "plan": {"kind": "per_call"},
                "effective_from": self.ids["next_month"],
            },
            "POST /api-keys": {"client_id": a, "role": "client", "name": "matrix extra"},
            "POST /calls": {"dialled_number": NUMBERS["a"], "caller_number": "+31612345678"},
            "POST /calls/{call_id}/answer": {"language": "nl"},
            "POST /calls/{call_id}/notes": NOTE,
            "POST /calls/{call_id}/escalations": {"urgency_kind": "outage", "reason": "No heat"},
            "POST /calls/{call_id}/transfer": {"to_number": "+31201234567"},
            "POST /calls/{call_id}/voicemail": {"recording_ref": "RE1", "duration_seconds": 5},
            "POST /calls/{call_id}/non-billable": {"reason": "wrong_number"},
            "POST /calls/{call_id}/announced-mail/confirm": {"comment": "matrix"},
            "PUT /operators/{operator_id}": {"name": "Daan", "languages": ["nl"]},
            "PUT /operators/{operator_id}/presence": {"presence": "available"},
            "POST /escalations/{escalation_id}/ack": {"by": "Jan"},
            "POST /digests/run": {},
            "PUT /forwarding-codes/{provider}": {
                "name": "Matrix",
                "forward_all": "*21*{number}#",
                "stop_all": "##21#",
            },
            "POST /invoices/run": {"period": period},
            "POST /invoices/{invoice_id}/payments": {"amount_cents": 1},
            "POST /clients/{client_id}/punch-card": {"amount_cents": 1000},
            "POST /replays": {"client_id": a, "period": period},
            "POST /what-if": {"client_id": a, "period": period, "plan": {"kind": "per_call"}},
            "PUT /clients/{client_id}/calendar": {
                "provider": "caldav",
                "calendar": "https://127.0.0.1:9/dav/agenda/",
                "account": "jan",
                "secret": "app-password",
                "permission": "read",
            },
            "PUT /clients/{client_id}/calendar/permission": {
                "permission": "write",
                "show_titles": True,
            },
            "POST /calls/{call_id}/appointments": {"start": hour, "end": later, "title": "Intake"},
            "POST /calls/{call_id}/appointment-proposals": {
                "title": "Intake",
                "times": [{"start": hour, "end": later}],
            },
            "POST /appointments/{appointment_id}/move": {"start": hour, "end": later},
            "POST /appointments/{appointment_id}/cancel": {"reason": "matrix"},
            "POST /callbacks/{callback_id}/assign": {"operator_id": self.ids["operator_id"]},
            "POST /callbacks/{callback_id}/done": {"comment": "reached"},
            "POST /callbacks/{callback_id}/failed": {"reason": "no_answer"},
            "PUT /clients/{client_id}/mailbox": MAILBOX,
            "PUT /clients/{client_id}/mailbox/imap": {
                "host": "127.0.0.1",
                "username": "jan",
                "password": "app-password",
            },
            "POST /conversations/{conversation_id}/reply": {"text": "Wij bellen u."},
            "POST /conversations/{conversation_id}/forward": {"note": "ter info"},
            "POST /conversations/{conversation_id}/handled": {"comment": "klaar"},
            "POST /conversations/{conversation_id}/assign": {
                "operator_id": self.ids["operator_id"]
            },
        }
        if row.method in ("GET", "DELETE") or row.route in (
            "POST /clients/{client_id}/activate",
            "POST /calls/{call_id}/end",
            "POST /conversations/{conversation_id}/spam",
        ):
            return None
        return bodies[row.route]


def verdict(expected: str, response: httpx.Response) -> str | None:
    """What is wrong with an answer for a cell of the table, or None if it fits."""
    status = response.status_code
    if fits(expected, status):
        return None
    if status >= 500:
        return f"server error {status}"
    return f"refused with {status}" if expected == "allow" else f"{status}, expected {expected}"


LISTS = {
    "GET /clients": "client_id",
    "GET /calls": "client_id",
    "GET /invoices": "client_id",
    "GET /credit-notes": "client_id",
    "GET /clients/{client_id}/notifications": "client_id",
    "GET /callbacks": "client_id",
    "GET /conversations": "client_id",
    "GET /announced-mails": "client_id",
}
"""Lists a client may read, and where each item names its client."""


def foreign_rows(matrix: Matrix, caller: str, row: Row, response: httpx.Response) -> str | None:
    """A list answer of a tenant-bound caller that holds another client's rows."""
    key = LISTS.get(row.route)
    if key is None or response.status_code != 200 or caller not in ("client_a", "client_b"):
        return None
    own = str(matrix.clients["a" if caller == "client_a" else "b"])
    others = [item for item in response.json() if str(item[key]) != own]
    return f"{len(others)} rows of other clients" if others else None


async def test_every_route_answers_each_caller_as_the_table_says(matrix: Matrix) -> None:
    """Every route by six callers: no unexpected answer, no foreign rows."""
    table = rows()
    await check_table_covers_every_route(matrix, table)
    ordered = sorted(table, key=lambda r: r.route in DESTRUCTIVE)
    wrong: list[str] = []
    cells = 0
    for row in ordered:
        for caller in ("anonymous", "client_b", "operator", "api_key", "client_a", "staff"):
            response = await matrix.call(caller, row)
            cells += 1
            problem = verdict(row.expected[caller], response) or foreign_rows(
                matrix, caller, row, response
            )
            if problem:
                wrong.append(f"{row.service} {row.route} as {caller}: {problem}: {response.text}")
    assert cells == len(table) * len(CALLERS)
    assert not wrong, "\n".join(wrong)


async def check_table_covers_every_route(matrix: Matrix, rows: list[Row]) -> None:
    """The table has a row for every route of every service's OpenAPI, and no other."""
    for service in SERVICES:
        spec = (await matrix.http.get(f"{matrix.urls[service]}/openapi.json")).json()
        published = {
            f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
        }
        listed = {r.route for r in rows if r.service == service and r.path != "/metrics"}
        assert published == listed, f"{service}: {published ^ listed}"


async def test_a_foreign_client_filter_is_refused_not_ignored(matrix: Matrix) -> None:
    """B asking for A's lists gets the 404 of an unknown client; a malformed filter is 422."""
    a = str(matrix.clients["a"])
    b_headers = await matrix.headers("client_b")
    for service, path in (
        ("calls", "/calls"),
        ("billing", "/invoices"),
        ("billing", "/credit-notes"),
    ):
        url = f"{matrix.urls[service]}{path}"
        answer = await matrix.http.get(url, params={"client_id": a}, headers=b_headers)
        assert answer.status_code == 404, f"{path}: {answer.text}"
        bracketed = await matrix.http.get(url, params={"client_id[]": a}, headers=STAFF)
        assert bracketed.status_code == 422, f"{path}: {bracketed.text}"


async def test_the_operator_takes_a_call_end_to_end_signed_in(matrix: Matrix) -> None:
    """operator-1, signed in at Keycloak, is on duty, takes a call, notes and escalates it.

    Every event of it carries operator-1 as its actor; routing puts the call through to
    operator-1, taken from the token, not from any body.
    """
    op = await matrix.headers("operator")
    calls, routing = matrix.urls["calls"], matrix.urls["routing"]
    presence = f"{routing}/operators/{matrix.operator_id}/presence"
    expect(await matrix.http.put(presence, json={"presence": "available"}, headers=op), 200)
    other = f"{routing}/operators/someone-else/presence"
    assert (
        await matrix.http.put(other, json={"presence": "available"}, headers=op)
    ).status_code in (403,)
    # client B's number: the matrix has released A's (it runs its destructive rows last)
    body = {"dialled_number": NUMBERS["b"], "caller_number": "+31612345678"}
    call_id = expect(await matrix.http.post(f"{calls}/calls", json=body, headers=op), 201)[
        "call_id"
    ]
    answer = {"language": "nl"}
    expect(await matrix.http.post(f"{calls}/calls/{call_id}/answer", json=answer, headers=op), 200)
    expect(await matrix.http.post(f"{calls}/calls/{call_id}/notes", json=NOTE, headers=op), 201)
    escalation = {"urgency_kind": "outage", "reason": "No heating at all"}
    path = f"{calls}/calls/{call_id}/escalations"
    expect(await matrix.http.post(path, json=escalation, headers=op), 201)
    expect(await matrix.http.post(f"{calls}/calls/{call_id}/end", headers=op), 200)
    routed = f"{routing}/calls/{call_id}/routing"
    await get_when(
        matrix.http, routed, lambda r: r["route"] is not None, what="the route", headers=op
    )
    detail = expect(await matrix.http.get(f"{calls}/calls/{call_id}", headers=op), 200)
    actors = {(e["event"]["actor"]["kind"], e["event"]["actor"]["id"]) for e in detail["history"]}
    assert actors == {("operator", matrix.operator_id)}, detail["history"]
    assert detail["operator_id"] == matrix.operator_id
    imported = {**body, "import": True}
    assert (await matrix.http.post(f"{calls}/calls", json=imported, headers=op)).status_code == 403


async def test_a_client_user_sees_only_its_own_calls_and_invoices(matrix: Matrix) -> None:
    """client A's user lists A's calls and invoice; B's user none of them, and not A's PDF."""
    a, b = str(matrix.clients["a"]), str(matrix.clients["b"])
    for caller, own in (("client_a", a), ("client_b", b)):
        headers = await matrix.headers(caller)
        calls = expect(await matrix.http.get(f"{matrix.urls['calls']}/calls", headers=headers), 200)
        assert calls
        assert {c["client_id"] for c in calls} == {own}
        invoices = f"{matrix.urls['billing']}/invoices"
        listed = expect(await matrix.http.get(invoices, headers=headers), 200)
        assert {i["client_id"] for i in listed} <= {own}
        pdf = await matrix.http.get(f"{invoices}/{matrix.ids['invoice_id']}.pdf", headers=headers)
        assert pdf.status_code == (200 if caller == "client_a" else 404)
    a_listed = await matrix.http.get(
        f"{matrix.urls['billing']}/invoices", headers=await matrix.headers("client_a")
    )
    assert matrix.ids["invoice_id"] in {i["invoice_id"] for i in a_listed.json()}


async def test_expired_and_foreign_tokens_are_refused_by_every_service(
    matrix: Matrix, keycloak: Keycloak
) -> None:
    """A token past its expiry, and one from another issuer, get 401 at each service."""
    short = await keycloak.token("staff", client=SHORT_LIVED_CLIENT)
    foreign = await keycloak.token("intruder", realm=FOREIGN_REALM, password="intruder")
    await asyncio.sleep(2.5)  # the short-lived token lives one second; the services allow no skew
    for service in SERVICES:
        for token in (short, foreign):
            answer = await matrix.http.get(
                f"{matrix.urls[service]}/whoami", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 401, f"{service}: {answer.text}"


# --- set-up -------------------------------------------------------------------------------


def service_env(service: str, keycloak: Keycloak, clock_dsn: str, smtp_port: int) -> dict[str, str]:
    """A service signing in against the session's Keycloak, on the test's clock."""
    env = {
        "FRONTDESK_CLOCK": "simulated",
        "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
        "FRONTDESK_AUTH_ISSUER": keycloak.issuer,
        "FRONTDESK_AUTH_LEEWAY_SECONDS": "0",
        "FRONTDESK_RATE_LIMIT": "10000/second",
    }
    if service == "calls":
        env["FRONTDESK_CALLS_TWILIO_AUTH_TOKEN"] = TWILIO_TOKEN
    if service == "routing":
        env |= {
            "FRONTDESK_ROUTING_ACK_SECRET": "matrix-ack-secret",
            "FRONTDESK_ROUTING_PUBLIC_BASE_URL": "https://routing.frontdesk.example",
            "FRONTDESK_ROUTING_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        }
    if service == "inbox":
        env["FRONTDESK_INBOX_RELAY_PORT"] = str(smtp_port)
    if service == "notify":
        env |= {
            "FRONTDESK_NOTIFY_SMTP_HOST": "127.0.0.1",
            "FRONTDESK_NOTIFY_SMTP_PORT": str(smtp_port),
            "FRONTDESK_NOTIFY_SENDER_POLL_SECONDS": "0.2",
        }
    return env


@pytest.fixture(scope="module")
async def matrix(
    infra: Infrastructure, keycloak: Keycloak, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Matrix]:
    """The seven services with clients A and B set up, and the matrix's Keycloak users."""
    home = tmp_path_factory.mktemp("matrix")
    world = await new_world(infra, home)
    day = working_day(datetime.now(UTC).date())
    clock_dsn = await private_clock(infra.dsn, world.schema("clock"), amsterdam(day, 9))
    with smtp_server() as smtp:
        try:
            procs = {
                s: world.process(
                    f"services.{s}.app:create_app",
                    s,
                    s,
                    **service_env(s, keycloak, clock_dsn, smtp.port),
                )
                for s in SERVICES
            }
            await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs.values()))
            urls = {s: p.url for s, p in procs.items()}
            async with AsyncExitStack() as stack:
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
                staff = await stack.enter_async_context(
                    httpx.AsyncClient(timeout=30, headers=STAFF)
                )
                inbox_smtp = int(procs["inbox"].env["FRONTDESK_INBOX_SMTP_PORT"])
                yield await set_up(http, Staffed(staff, urls), keycloak, world, day, inbox_smtp)
        finally:
            world.stop()


async def set_up(
    http: httpx.AsyncClient, staff: Staffed, keycloak: Keycloak, world: World, day: date,
    inbox_smtp: int,
) -> Matrix:  # fmt: skip
    """Two clients with a call each; A with notification, invoice, credit note and key."""
    urls = staff.urls
    async with keycloak.server.admin() as admin:
        operator_id = (await admin.user(REALM, OPERATOR_USER))["id"]
    await staff.put("routing", f"/operators/{operator_id}", {"name": "Daan", "languages": ["nl"]})
    clients = {side: await staff.client(side) for side in ("a", "b")}
    async with keycloak.server.admin() as admin:
        users = {"operator": OPERATOR_USER, "staff": "staff"}
        for side, client_id in clients.items():
            username = f"matrix-{world.prefix}-{side}"
            attributes = {"frontdesk_client_id": str(client_id)}
            await admin.create_user(REALM, username, PASSWORD, ["client"], attributes)
            users[f"client_{side}"] = username
    await get_when(staff.http, f"{urls['calls']}/lines/{NUMBERS['b']}", bool, what="calls knows B")
    calls = {side: await staff.noted_call(side) for side in ("a", "b")}
    escalation_id = await staff.escalation(calls["a"])
    notification_id = await staff.notification(clients["a"])
    invoice_id, credit_note_id, period = await staff.documents(clients["a"], calls["a"], day)
    key = await staff.post(
        "intake", "/api-keys", {"client_id": str(clients["a"]), "role": "client", "name": "CRM"}
    )
    spare = await staff.post(
        "intake", "/api-keys", {"client_id": str(clients["a"]), "role": "client", "name": "spare"}
    )
    await staff.key_known_everywhere(key["key"])
    start = amsterdam(day, 15)
    appointment = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    proposal = await staff.post(
        "calendar",
        f"/calls/{calls['a']}/appointment-proposals",
        {"title": "Intake", "times": [appointment]},
    )
    callback_id = await staff.callback(clients["a"])
    conversation_id, mail_id, sha256 = await staff.conversation(clients["a"], inbox_smtp)
    ids = {
        "client_id": str(clients["a"]),
        "call_id": str(calls["a"]),
        "number": NUMBERS["a"],
        "escalation_id": escalation_id,
        "notification_id": notification_id,
        "invoice_id": invoice_id,
        "credit_note_id": credit_note_id,
        "operator_id": operator_id,
        "key_id": spare["key_id"],
        "period": period,
        "next_month": f"{later_month(day, 3):%Y-%m-%d}",
        "appointment_id": proposal["appointment_id"],
        "callback_id": callback_id,
        "conversation_id": conversation_id,
        "provider": "matrix-provider",
        "mail_id": mail_id,
        "sha256": sha256,
        "appointment_start": appointment["start"],
        "appointment_end": appointment["end"],
    }
    tokens = Tokens(keycloak, users)
    return Matrix(urls, http, tokens, key["key"], ids, clients, operator_id)


def later_month(day: date, months: int) -> date:
    """The first day of the month `months` after the one `day` is in."""
    for _ in range(months):
        day = first_of_next_month(day)
    return day


@dataclass
class Staffed:
    """Set-up calls made as the bureau's staff key."""

    http: httpx.AsyncClient
    urls: dict[str, str]

    async def post(self, service: str, path: str, body: Any = None, status: int = 201) -> Any:
        """POST as staff, expecting `status`."""
        url = f"{self.urls[service]}{path}"
        return expect(await self.http.post(url, json=body), status)

    async def put(self, service: str, path: str, body: Any) -> Any:
        """PUT as staff, expecting 200."""
        url = f"{self.urls[service]}{path}"
        return expect(await self.http.put(url, json=body), 200)

    async def get(self, service: str, path: str, **params: str) -> Any:
        """GET as staff, expecting 200."""
        url = f"{self.urls[service]}{path}"
        return expect(await self.http.get(url, params=params), 200)

    async def client(self, side: str) -> UUID:
        """A client on a per-call plan with mail per call, a number and a book, active."""
        registration = {
            "name": f"Matrix client {side.upper()}",
            "contact_email": f"{side}@client.example",
            "language": "nl",
            "notification": {"mode": "per_call", "recipients": [f"{side}@client.example"]},
        }
        client_id = UUID((await self.post("intake", "/clients", registration))["client_id"])
        await self.post("intake", f"/clients/{client_id}/numbers", {"number": NUMBERS[side]})
        await self.put("intake", f"/clients/{client_id}/book", BOOK)
        await self.post("intake", f"/clients/{client_id}/activate", status=200)
        return client_id

    async def noted_call(self, side: str) -> UUID:
        """A call to the side's number, answered and noted."""
        body = {"dialled_number": NUMBERS[side], "caller_number": "+31612345678"}
        call_id = UUID((await self.post("calls", "/calls", body))["call_id"])
        await self.post("calls", f"/calls/{call_id}/answer", {"language": "nl"}, status=200)
        await self.post("calls", f"/calls/{call_id}/notes", NOTE)
        return call_id

    async def escalation(self, call_id: UUID) -> str:
        """An escalation of the call, once routing has it."""
        body = {"urgency_kind": "outage", "reason": "No heating"}
        escalation_id: str = (await self.post("calls", f"/calls/{call_id}/escalations", body))[
            "escalation_id"
        ]
        url = f"{self.urls['routing']}/escalations/{escalation_id}"
        await get_when(self.http, url, bool, what="routing has the escalation")
        return escalation_id

    async def callback(self, client_id: UUID) -> str:
        """The callback the noted call put on the list, once the calendar service has it."""
        url = f"{self.urls['calendar']}/callbacks"
        found = await get_when(
            self.http, url, bool, params={"client_id": str(client_id)},
            what="the calendar service has the callback",
        )  # fmt: skip
        callback_id: str = found[0]["callback_id"]
        return callback_id

    async def conversation(self, client_id: UUID, smtp_port: int) -> tuple[str, str, str]:
        """A conversation of the client: its mailbox set up, a mail with an attachment forwarded
        to it over SMTP; the conversation's, the mail's and the attachment's ids."""
        path = f"{self.urls['inbox']}/clients/{client_id}/mailbox"

        async def configured() -> bool:  # once the inbox has heard of the client from intake
            return (await self.http.put(path, json=MAILBOX)).status_code == 200

        await wait_until(configured, within=60, what="the inbox knows the client")
        address = (await self.http.get(path)).json()["forwarding_address"]
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "piet@example.nl", address, "Vraag"
        message["Message-ID"] = f"<matrix-{client_id}@example.nl>"
        message.set_content("Kunt u mij terugbellen?")
        photo = b"\x89PNG matrix photo"
        message.add_attachment(photo, maintype="image", subtype="png", filename="lek.png")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=smtp_port, timeout=10)
        found = await get_when(
            self.http, f"{self.urls['inbox']}/conversations", bool,
            params={"client_id": str(client_id)}, what="the inbox has the conversation",
        )  # fmt: skip
        conversation_id: str = found[0]["conversation_id"]
        detail = await self.http.get(f"{self.urls['inbox']}/conversations/{conversation_id}")
        mail_id: str = detail.json()["thread"][0]["mail_id"]
        return conversation_id, mail_id, hashlib.sha256(photo).hexdigest()

    async def notification(self, client_id: UUID) -> str:
        """The id of a notification notify made for the client (the mail of its note)."""
        url = f"{self.urls['notify']}/clients/{client_id}/notifications"
        found = await get_when(self.http, url, bool, what="a notification")
        notification_id: str = found[0]["notification_id"]
        return notification_id

    async def documents(self, client_id: UUID, call_id: UUID, day: date) -> tuple[str, str, str]:
        """A's invoice for this month, then a credit note for its call marked afterwards."""
        period = f"{day:%Y-%m}"
        await self.to(first_of_next_month(day))
        invoice = await self.invoice(client_id, period)
        await self.post("calls", f"/calls/{call_id}/non-billable", {"reason": "wrong_number"})
        later = first_of_next_month(day)
        await self.to(first_of_next_month(later))
        credit_notes: list[Any] = []

        async def credited() -> bool:
            await self.post("billing", "/invoices/run", {"period": f"{later:%Y-%m}"}, status=200)
            credit_notes[:] = await self.get("billing", "/credit-notes", client_id=str(client_id))
            return bool(credit_notes)

        await wait_until(credited, within=30, what="a credit note for the call")
        return invoice, str(credit_notes[0]["credit_note_id"]), period

    async def to(self, day: date) -> None:
        """Move the shared clock to 09:00 in Amsterdam on `day`."""
        instant = amsterdam(day, 9).isoformat()
        await self.post("billing", "/clock", {"set_to": instant}, status=200)

    async def invoice(self, client_id: UUID, period: str) -> str:
        """The invoice of the client's month, once billing has seen its reported call."""
        found: list[str] = []

        async def issued() -> bool:
            run = await self.post(
                "billing",
                "/invoices/run",
                {"period": period, "client_id": str(client_id)},
                status=200,
            )
            found[:] = [r["invoice_id"] for r in run["results"] if r["invoice_id"]]
            return bool(found)

        await wait_until(issued, within=30, what="the month's invoice")
        return found[0]

    async def key_known_everywhere(self, key: str) -> None:
        """Wait until every service knows the new key (it learns it from intake's topic)."""
        for service in SERVICES:
            url = f"{self.urls[service]}/whoami"

            async def known(url: str = url) -> bool:
                answer = await self.http.get(url, headers={"X-Api-Key": key})
                return answer.status_code == 200 and answer.json()["role"] == "client"

            await wait_until(known, within=30, what=f"{service} knows the API key")
