"""Idempotency-Key on the POSTs that create something: a retried request gets the first answer.

A client that sends `Idempotency-Key: <1-255 visible ASCII characters>` may repeat the request
as often as it likes (after a timeout, a dropped connection): the first success is kept, with
its status, headers and body, for at least `Settings.idempotency_hours`, and every repeat with
the same key and the same request is answered with it (marked `Idempotent-Replayed: true`)
without running the command again. A key is scoped to the credential that sent it (a hash of
the Authorization or X-Api-Key header) and to the service's schema. The same key with another
request (method, path, body or credential differ: compared as a SHA-256 fingerprint) is
refused with 422; a repeat while the first is still running gets 409. Only successes (2xx)
are kept: a refusal changed nothing, so a repeat is decided again. Without the header
nothing changes.

Where the answer is kept. A route that runs one command (`Idempotent`) runs in one
PostgreSQL transaction from the key's check to its answer: the route's store is bound to that
transaction's connection, so the shared command runner's transactions (libs/platform/
commands.py) become savepoints of it and need no change, the reads that render the answer
see the command's writes, and the answer row is written last, before the commit. So the
events and the kept answer commit together or not at all: a crash before the commit leaves
neither, and the retry runs the command once. (Keeping the answer inside the runner instead
would miss the answer itself, which most routes read from their tables after the command.)
A transaction-scoped advisory lock on the key makes a concurrent repeat (any process) fail
fast with 409 instead of waiting for the first to finish.

A route whose work spans several transactions on purpose (`IdempotentRun`: invoice runs and
digest runs commit each client on its own, so one client's refusal keeps no other waiting)
reserves the key first (an in-progress row, committed), runs, then keeps the answer; a failure
removes the reservation. A crash leaves the in-progress row, which answers 409 until its lease
(`Settings.idempotency_lease_seconds`) ends; then a repeat runs again. That is safe only
because these routes are idempotent in their domain as well (a month is invoiced and a day's
digest made once per client): a rerun after a crash appends no event twice.

Expired rows are never answered from; each write deletes a batch of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Coroutine, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from libs.errors import Conflict, Rejected
from libs.platform.auth import principal
from libs.platform.db import Connection, OneConnection
from libs.platform.problems import refusals
from libs.platform.store import EventStore

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
"""1 to 255 visible US-ASCII characters (no spaces, no control characters)."""
CREDENTIAL_HEADERS = ("authorization", "x-api-key")
PURGE_BATCH = 100
"""How many expired rows one write deletes: cleaning up costs each request little."""
Mode = Literal["one_transaction", "reserved"]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_KEY = re.compile(KEY_PATTERN)
_DESCRIPTION = (
    "Makes the request safe to repeat: the same key with the same request gets the first "
    "answer again and creates nothing twice (422 with another request, 409 while it runs)"
)
_RESPONSES = refusals(
    conflict="A request with this Idempotency-Key is still being processed",
    rejected="Invalid request, or an Idempotency-Key reused for another request",
)


@dataclass(frozen=True)
class Claim:
    """One request's key: whose it is, the key itself, and a fingerprint of the request."""

    credential: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    """A kept answer: replayed as it was first given."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def of(cls, response: Response) -> Answer:
        """What a route answered (its body already rendered, as FastAPI does for models)."""
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return cls(response.status_code, headers, bytes(response.body))

    def response(self) -> Response:
        """The kept answer, marked as a replay."""
        replay = Response(self.body, status_code=self.status, headers=dict(self.headers))
        replay.headers[REPLAYED_HEADER] = "true"
        return replay


def check_key(values: Sequence[str]) -> str:
    """The request's one key, if it is 1-255 visible ASCII characters; else Rejected."""
    if len(values) != 1:
        raise Rejected(f"give one {HEADER} header, not {len(values)}")
    if not _KEY.match(values[0]):
        raise Rejected(f"{HEADER} must be 1 to 255 visible ASCII characters")
    return values[0]


def credential_of(headers: Sequence[tuple[str, str]]) -> str:
    """A hash of the request's credential (the same for every anonymous request)."""
    digest = hashlib.sha256()
    for name, value in headers:
        if name.lower() in CREDENTIAL_HEADERS:
            digest.update(f"{name.lower()}\0{value}\0".encode())
    return digest.hexdigest()


def fingerprint(method: str, target: str, body: bytes, credential: str) -> str:
    """A SHA-256 over what makes two requests the same one: method, path and query, body."""
    digest = hashlib.sha256(f"{method.upper()}\0{target}\0{credential}\0".encode())
    digest.update(body)
    return digest.hexdigest()


def lock_key(schema: str, claim: Claim) -> int:
    """A signed 64-bit advisory-lock key for one credential's key in one schema."""
    digest = hashlib.sha256(f"{schema}\0{claim.credential}\0{claim.key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def look_up(conn: Connection, schema: str, claim: Claim, now: datetime) -> Answer | None:
    """The kept answer to this key, None if it is new; locks the key until the commit.

    Conflict while another request with the key runs, Rejected if it came with another request.
    """
    locked = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_key(schema, claim))
    if not locked:
        raise Conflict(f"a request with this {HEADER} is still being processed; try again")
    row = await conn.fetchrow(
        f"SELECT fingerprint, status, headers, body FROM {schema}.idempotency_keys "
        "WHERE credential = $1 AND key = $2 AND expires_at > $3",
        claim.credential,
        claim.key,
        now,
    )
    if row is None:
        return None
    if row["fingerprint"] != claim.fingerprint:
        raise Rejected(f"this {HEADER} was used for another request; use a new key")
    if row["status"] is None:
        raise Conflict(f"a request with this {HEADER} is still being processed; try again")
    headers = [(name, value) for name, value in json.loads(row["headers"])]
    return Answer(row["status"], headers, bytes(row["body"]))


async def keep(
    conn: Connection,
    schema: str,
    claim: Claim,
    answer: Answer | None,
    *,
    now: datetime,
    until: datetime,
) -> None:
    """Keep the key's answer (None: reserve it, in progress) until `until`."""
    await _purge(conn, schema, now)
    await conn.execute(
        f"INSERT INTO {schema}.idempotency_keys (credential, key, fingerprint, status, headers, "
        "body, expires_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) "
        "ON CONFLICT (credential, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
        "status = excluded.status, headers = excluded.headers, body = excluded.body, "
        "expires_at = excluded.expires_at",
        claim.credential,
        claim.key,
        claim.fingerprint,
        None if answer is None else answer.status,
        json.dumps([] if answer is None else answer.headers),
        b"" if answer is None else answer.body,
        until,
    )


async def release(conn: Connection, schema: str, claim: Claim) -> None:
    """Drop the key's reservation: its request failed, a repeat may run it again."""
    await conn.execute(
        f"DELETE FROM {schema}.idempotency_keys "
        "WHERE credential = $1 AND key = $2 AND status IS NULL",
        claim.credential,
        claim.key,
    )


async def _purge(conn: Connection, schema: str, now: datetime) -> None:
    # SKIP LOCKED: concurrent writers clean different rows and never wait for each other.
    await conn.execute(
        f"DELETE FROM {schema}.idempotency_keys WHERE ctid IN (SELECT ctid FROM "
        f"{schema}.idempotency_keys WHERE expires_at <= $1 "
        f"ORDER BY expires_at LIMIT {PURGE_BATCH} FOR UPDATE SKIP LOCKED)",
        now,
    )


def bound(store: EventStore, conn: Connection) -> EventStore:
    """The service's store with every read and write on `conn`, inside its transaction."""
    joined = copy(store)
    joined.pool = OneConnection(conn)  # type: ignore[assignment]
    return joined


KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER, min_length=1, max_length=255, pattern=KEY_PATTERN, description=_DESCRIPTION
    ),
]


async def idempotency_key(key: KeyHeader = None) -> str | None:
    """The Idempotency-Key of a route that runs one command (kept in its transaction)."""
    return key


async def reserved_idempotency_key(key: KeyHeader = None) -> str | None:
    """The Idempotency-Key of a route whose work spans several transactions (reserved first)."""
    return key


Idempotent = Depends(idempotency_key)
"""Put in a route's `dependencies`: its answer is kept in the transaction of its command."""
IdempotentRun = Depends(reserved_idempotency_key)
"""Put in a route's `dependencies`: the key is reserved first, the answer kept after the run."""
_MODES: dict[Callable[..., Any], Mode] = {
    idempotency_key: "one_transaction",
    reserved_idempotency_key: "reserved",
}


def mode_of(route: APIRoute) -> Mode | None:
    """How a route keeps its answers (None: it takes no Idempotency-Key)."""
    found = (_MODES.get(d.dependency) for d in route.dependencies if d.dependency)
    return next((mode for mode in found if mode is not None), None)


class IdempotentRoute(APIRoute):
    """A route class honouring Idempotency-Key on the routes that depend on `Idempotent*`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mode_of(self) is not None:
            self.responses = {**_RESPONSES, **self.responses}

    def get_route_handler(self) -> Handler:
        """The route's handler, wrapped when the route takes an Idempotency-Key."""
        handler, mode = super().get_route_handler(), mode_of(self)
        if mode is None:
            return handler
        run = _in_one_transaction if mode == "one_transaction" else _reserved
        signs_in = _authenticates(self.dependant)

        async def idempotent(request: Request) -> Response:
            values = request.headers.getlist(HEADER)
            if not values:
                return await handler(request)
            if signs_in:
                # Known before the key's transaction takes its connection: an API key is
                # checked on a pooled connection of its own, and requests holding one while
                # waiting for a second deadlock the pool once all its connections wait so.
                await principal(request)
            return await run(request, handler, await _claim(request, check_key(values)))

        return idempotent


def _authenticates(dependant: Dependant) -> bool:
    """Whether a route's dependencies find out who the caller is."""
    return any(sub.call is principal or _authenticates(sub) for sub in dependant.dependencies)


async def _claim(request: Request, key: str) -> Claim:
    credential = credential_of(request.headers.items())
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()  # kept on the request: the route reads it again
    return Claim(credential, key, fingerprint(request.method, target, body, credential))


class _Unkept(Exception):
    """A route's answer that is not kept (not a success): its transaction is rolled back."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _kept(response: Response) -> Answer | None:
    """The answer to keep: a success; refusals changed nothing and are decided again."""
    return Answer.of(response) if 200 <= response.status_code < 300 else None


def _keep_until(rt: Any) -> datetime:
    kept: datetime = rt.clock.now() + timedelta(hours=rt.settings.idempotency_hours)
    return kept


async def _in_one_transaction(request: Request, handler: Handler, claim: Claim) -> Response:
    rt = request.app.state.runtime
    store: EventStore = rt.require_store()
    now: datetime = rt.clock.now()
    try:
        async with store.transaction() as conn:
            found = await look_up(conn, store.schema, claim, now)
            if found is not None:
                return found.response()
            request.state.store = bound(store, conn)
            response = await handler(request)
            answer = _kept(response)
            if answer is None:
                raise _Unkept(response)
            await keep(conn, store.schema, claim, answer, now=now, until=_keep_until(rt))
            return response
    except _Unkept as unkept:
        return unkept.response
    finally:
        request.state.store = None


async def _reserved(request: Request, handler: Handler, claim: Claim) -> Response:
    rt = request.app.state.runtime
    store: EventStore = rt.require_store()
    lease = timedelta(seconds=rt.settings.idempotency_lease_seconds)
    found = await _reserve(store, claim, rt.clock.now(), lease)
    if found is not None:
        return found.response()
    try:
        response = await handler(request)
    except Exception:
        await _finish(store, claim, None, rt)
        raise
    await _finish(store, claim, _kept(response), rt)
    return response


async def _reserve(
    store: EventStore, claim: Claim, now: datetime, lease: timedelta
) -> Answer | None:
    """The kept answer, or None once the key is reserved (committed) for this request."""
    async with store.transaction() as conn:
        found = await look_up(conn, store.schema, claim, now)
        if found is None:
            await keep(conn, store.schema, claim, None, now=now, until=now + lease)
        return found


async def _finish(store: EventStore, claim: Claim, answer: Answer | None, rt: Any) -> None:
    """Keep the run's answer, or drop the reservation of a run that did not succeed."""
    async with store.transaction() as conn:
        if answer is None:
            await release(conn, store.schema, claim)
        else:
            until = _keep_until(rt)
            await keep(conn, store.schema, claim, answer, now=rt.clock.now(), until=until)
