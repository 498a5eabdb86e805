"""The committed access table, read once for every access test, and its stand-in callers.

tests/security/access.csv says, route by route, what each of six callers gets: `allow` (any
answer but 401/403, never a 5xx) or an exact status. The in-process tests of each service and
the end-to-end matrix in tests/security read it through `rows`; the in-process ones act as the
principals below (what a verified token would give) instead of signing in.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

from fastapi import APIRouter
from fastapi.routing import APIRoute

from libs.events import ApiKeyIssued, new_id
from libs.events.envelope import Actor
from libs.platform.api_keys import new_key
from libs.platform.auth import ANONYMOUS, Principal

TABLE = Path(__file__).parents[1] / "security" / "access.csv"
SERVICES = ("intake", "calls", "routing", "notify", "billing", "calendar", "inbox")
CALLERS = ("anonymous", "operator", "client_a", "client_b", "staff", "api_key")
"""The table's callers, in its column order; `api_key` is an issued key of client A."""

STAFF = Principal(subject="staff-eva", name="Eva", role="staff", client_id=None, via="token")
OPERATOR = Principal(subject="op-anna", name="Anna", role="operator", client_id=None, via="token")


def client_user(client_id: UUID) -> Principal:
    """A user of the client (role client, bound to it)."""
    return Principal(f"user-{client_id}", "Kim", "client", client_id, "token")


def operator_key(client_id: UUID) -> Principal:
    """An API key of role operator issued for one client: bound to that client."""
    return Principal(f"api-key:{new_id()}", "crm", "operator", client_id, "api_key")


def stand_ins(a: UUID, b: UUID) -> dict[str, Principal]:
    """The table's callers but the API key, as principals, for clients `a` and `b`."""
    return {
        "anonymous": ANONYMOUS, "operator": OPERATOR, "client_a": client_user(a),
        "client_b": client_user(b), "staff": STAFF,
    }  # fmt: skip


def issued_key(client_id: UUID, at: datetime) -> tuple[ApiKeyIssued, str]:
    """An API key of role client that staff issued for the client: intake's event, the key."""
    made = new_key(new_id())
    issued = ApiKeyIssued(
        client_id=client_id, occurred_at=at, actor=Actor(kind="staff", id=STAFF.subject),
        key_id=made.key_id, name="CRM", role="client", secret_sha256=made.secret_sha256,
    )  # fmt: skip
    return issued, made.key


@dataclass(frozen=True)
class Row:
    """One line of the table: a route and what each caller gets."""

    service: str
    method: str
    path: str
    expected: dict[str, str]

    @property
    def route(self) -> str:
        """`METHOD /path`, as the OpenAPI names it."""
        return f"{self.method} {self.path}"


def rows(service: str | None = None, *, ops: bool = True) -> list[Row]:
    """The table's rows (of one service), the `ops` rows repeated for every service.

    With `ops=False` only the rows the table gives the service itself, none of the `ops` ones.
    """
    with TABLE.open() as handle:
        lines = [line for line in handle if not line.startswith("#")]
    found = []
    for record in csv.DictReader(lines):
        expected = {caller: record[caller] for caller in CALLERS}
        every = SERVICES if ops else ()
        services = every if record["service"] == "ops" else (record["service"],)
        found += [Row(s, record["method"], record["path"], expected) for s in services]
    return [row for row in found if service in (None, row.service)]


def fits(expected: str, status: int) -> bool:
    """Whether an answer's status is what a cell of the table says."""
    if expected == "allow":
        return status not in (401, 403) and status < 500
    return str(status) == expected


def misfits(service: str, caller: str, statuses: Mapping[str, int]) -> list[str]:
    """The routes (`METHOD /path`) whose status for `caller` is not what the table says."""
    cells = {row.route: row.expected[caller] for row in rows(service, ops=False)}
    return [
        f"{route}: {status}, expected {cells[route]}"
        for route, status in statuses.items()
        if not fits(cells[route], status)
    ]


def routes(router: APIRouter) -> set[str]:
    """The routes a router serves, as `METHOD /path`, to compare with the table's."""
    return {
        f"{method} {route.path}"
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
