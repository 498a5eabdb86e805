"""The routing HTTP API: the operator roster and each operator's live feed, escalations and
their acknowledgement, routes.

Thin on purpose: request model -> command -> handler -> response; refusals are mapped to
HTTP statuses in one place (libs.platform.problems).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Header, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from libs.errors import Forbidden, NotFound, Rejected
from libs.events.envelope import Actor
from libs.events.routing import Presence
from libs.events.values import Language
from libs.platform.auth import Anyone, Desk, Staff
from libs.platform.http import Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import Problem, problem, refusals
from services.routing import commands, directory, escalations, feed, links, read_model
from services.routing.domain import ack_link
from services.routing.domain.escalation import Acknowledge, Escalation
from services.routing.domain.feed import MAX_CURSOR, lost, lost_detail, may_follow, resume_point
from services.routing.domain.operators import PutOperator, RosterCommand, SetPresence
from services.routing.feed_stream import FeedHub, Follow, stream
from services.routing.schemas import (
    AckCreate,
    CallRoutingRead,
    EscalationRead,
    OperatorPut,
    OperatorRead,
    PresencePut,
    RouteRead,
)
from services.routing.settings import RoutingSettings

router = APIRouter(tags=["routing"], route_class=IdempotentRoute)
ERRORS = refusals(
    not_found="No such operator, escalation or call",
    conflict="Not possible in the current state",
    rejected="Invalid request, or a rule refuses it",
)
OperatorId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._@:-]{1,100}$")]
Token = Annotated[str, Query(min_length=1, max_length=200)]
FormToken = Annotated[str, Form(min_length=1, max_length=200)]
Config = Annotated[RoutingSettings, Depends(service_settings)]
T = TypeVar("T")
LINK_STATUS: dict[links.PageStatus, int] = {
    "open": 200, "taken": 200, "invalid": 403, "acknowledged": 409, "exhausted": 410,
    "expired": 410,
}  # fmt: skip
LINK_PAGES: dict[int | str, dict[str, Any]] = {
    status: {"content": {"text/html": {}}, "description": description}
    for status, description in (
        (200, "The escalation and its one button, or that the button acknowledged it"),
        (403, "Not a valid link"),
        (404, "No such escalation"),
        (409, "Acknowledged already"),
        (410, "The chain ended unacknowledged, or the link expired"),
    )
}
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-sent events: `ready` (when starting at the head), then `call`, "
        "`callback`, `conversation` and `escalation` items, each with its id (seq)",
    },
    **ERRORS,
    410: {
        "model": Problem,
        "description": "Items after the resume id (Last-Event-ID or `after`) are no longer kept: "
        "reload the screen's state, then reconnect without a resume id",
    },
}
FEED_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""Never cached, and not buffered by a proxy (nginx honours X-Accel-Buffering)."""
LINK_HEADERS = {
    # the token is in the URL: keep it out of caches and Referer; the button cannot be framed
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


@router.get("/operators", responses=ERRORS)
async def list_operators(
    store: Store, _: Desk, presence: Presence | None = None, language: Language | None = None
) -> list[OperatorRead]:
    """The roster, optionally only operators with a presence or speaking a language."""
    rows = await read_model.operators(store.pool, store.schema, presence, language)
    return [OperatorRead.model_validate(row) for row in rows]


@router.get("/operators/{operator_id}", responses=ERRORS)
async def get_operator(operator_id: OperatorId, store: Store, _: Desk) -> OperatorRead:
    """One operator."""
    row = await read_model.get_operator(store.pool, store.schema, operator_id)
    return OperatorRead.model_validate(_found(row, f"operator {operator_id}"))


@router.put("/operators/{operator_id}", responses=ERRORS)
async def put_operator(
    operator_id: OperatorId, body: OperatorPut, rt: Runtime, store: Store, caller: Staff
) -> OperatorRead:
    """Add an operator (offline at first) or change their name and languages (staff only)."""
    command = PutOperator(
        operator_id=operator_id, at=rt.clock.now(), actor=caller.actor(),
        name=body.name, languages=tuple(body.languages),
    )  # fmt: skip
    return await _roster(store, command)


@router.put("/operators/{operator_id}/presence", responses=ERRORS)
async def put_presence(
    operator_id: OperatorId, body: PresencePut, rt: Runtime, store: Store, caller: Desk
) -> OperatorRead:
    """Say whether the operator takes calls (available), is busy, or has logged off.

    An operator sets only their own presence (403 for anyone else's); staff set anyone's.
    """
    command = SetPresence(
        operator_id=operator_id, at=rt.clock.now(), actor=caller.actor(), presence=body.presence
    )
    return await _roster(store, command)


@router.get(
    "/operators/{operator_id}/feed", response_class=StreamingResponse, responses=FEED_RESPONSES
)
async def operator_feed(
    operator_id: OperatorId, request: Request, store: Store, caller: Desk, config: Config,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_CURSOR)] = None,
    once: bool = False,
) -> Response:  # fmt: skip
    """What concerns the operator, live: calls routed to them, callbacks and mail given to them
    or overdue in their languages, the escalations of their calls, and exhausted ones.

    Resumes after the Last-Event-ID header (or `after`): every item with a higher id, in
    order, then new ones as they commit; without either it starts at the head with a `ready`
    event. `once` sends what is there and ends. An operator follows only their own feed.
    Items are kept for a while only: a resume id before what was pruned is 410 Gone.
    """
    if not may_follow(caller.actor(), operator_id):
        raise Forbidden(f"an operator follows only their own feed, not {operator_id}'s")
    cursor = resume_point(last_event_id, after)
    _found(await read_model.get_operator(store.pool, store.schema, operator_id), "operator")
    kept = await feed.bounds(store.pool, store.schema)
    if cursor is not None and cursor > kept.head:
        raise Rejected(f"the feed has no item {cursor} yet: resume from an id it sent")
    if cursor is not None and lost(cursor, kept.pruned_through):
        return problem(410, lost_detail(cursor, config.feed_retention_hours))
    follow = Follow(
        operator_id=operator_id, after=cursor, once=once, poll_seconds=config.feed_poll_seconds,
        heartbeat_seconds=config.feed_heartbeat_seconds, max_seconds=config.feed_max_seconds,
        batch=config.feed_batch_size,
    )  # fmt: skip
    hub: FeedHub = getattr(request.app.state, "feed_hub", None) or FeedHub()
    events = stream(store.pool, store.schema, hub, follow)
    return StreamingResponse(events, media_type="text/event-stream", headers=FEED_HEADERS)


async def _roster(store: Store, command: RosterCommand) -> OperatorRead:
    """Run a roster command and answer with the operator's row."""
    row = await commands.change_roster(store, command)
    return OperatorRead.model_validate(_found(row, f"operator {command.operator_id}"))


@router.get("/escalations/{escalation_id}", responses=ERRORS)
async def get_escalation(escalation_id: UUID, store: Store, caller: Anyone) -> EscalationRead:
    """An escalation: every attempt so far, and whether it was acknowledged or exhausted.

    A client sees only its own; another client's is not found.
    """
    state = await escalations.load(store.pool, store.schema, escalation_id, caller.tenant)
    return EscalationRead.of(_found(state, f"escalation {escalation_id}"))


@router.post("/escalations/{escalation_id}/ack", responses=ERRORS, dependencies=[Idempotent])
async def acknowledge(
    escalation_id: UUID, body: AckCreate, rt: Runtime, store: Store, caller: Desk
) -> EscalationRead:
    """Someone took the escalation: the chain stops (409 once acknowledged or exhausted).

    The caller (an operator or staff) is who recorded it.
    """
    command = Acknowledge(
        at=rt.clock.now(), by=body.by, actor=caller.actor(), contact_index=body.contact_index
    )
    acknowledged = await commands.acknowledge(store, escalation_id, command, caller.tenant)
    return EscalationRead.of(acknowledged)


@router.get("/escalations/{escalation_id}/ack", response_class=HTMLResponse, responses=LINK_PAGES)
async def ack_link_page(
    escalation_id: UUID, token: Token, request: Request, rt: Runtime, store: Store, config: Config
) -> HTMLResponse:
    """The signed link sent with an attempt: a page with one button; opening it changes nothing."""
    attempt = _signed_attempt(config, escalation_id, token)
    if attempt is None:
        return _invalid_link(request)
    state = await escalations.load(store.pool, store.schema, escalation_id)
    state = _found(state, f"escalation {escalation_id}")
    verdict = ack_link.verdict(state, attempt, rt.clock.now(), config.ack_link_ttl)
    return await _link_page(store, verdict, attempt, token, state)


@router.post(
    "/escalations/{escalation_id}/ack/link", response_class=HTMLResponse, responses=LINK_PAGES
)
async def acknowledge_by_link(
    escalation_id: UUID, token: FormToken, request: Request, rt: Runtime, store: Store,
    config: Config,
) -> HTMLResponse:  # fmt: skip
    """The button of the link's page: acknowledges while the link lives.

    The signed token in the form is the proof, so no other site can make a browser post it.
    """
    attempt = _signed_attempt(config, escalation_id, token)
    if attempt is None:
        return _invalid_link(request)
    actor = Actor(kind="client", id=f"ack-link:{attempt}")
    command = Acknowledge(at=rt.clock.now(), by="", actor=actor, attempt=attempt)
    ttl = config.ack_link_ttl
    verdict, state = await commands.acknowledge_by_link(store, escalation_id, command, ttl)
    return await _link_page(store, "taken" if verdict == "open" else verdict, attempt, token, state)


@router.get("/calls/{call_id}/routing", responses=ERRORS)
async def call_routing(call_id: UUID, store: Store, caller: Desk) -> CallRoutingRead:
    """Where routing sent a call, and the escalations of the call."""
    tenant = caller.tenant
    route = await read_model.get_route(store.pool, store.schema, call_id, tenant)
    found = await escalations.ids_for_call(store.pool, store.schema, call_id, tenant)
    if route is None and not found:
        raise NotFound(f"routing knows no call {call_id}")
    states = [await escalations.load(store.pool, store.schema, e, tenant) for e in found]
    return CallRoutingRead(
        call_id=call_id,
        route=RouteRead.model_validate(route) if route else None,
        escalations=[EscalationRead.of(state) for state in states if state is not None],
    )


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise NotFound(f"no {what}")
    return value


def _signed_attempt(config: RoutingSettings, escalation_id: UUID, token: str) -> int | None:
    if config.ack_secret is None:
        raise HTTPException(503, "acknowledgement links are not configured (no ack secret)")
    return ack_link.signed_attempt(config.ack_secret.get_secret_value(), escalation_id, token)


async def _link_page(
    store: Store, status: links.PageStatus, attempt: int, token: str, state: Escalation
) -> HTMLResponse:
    facts = await directory.client_facts(store.pool, store.schema, state.client_id)
    return _html(links.page_of(status, attempt, token, state, facts))


def _invalid_link(request: Request) -> HTMLResponse:
    language = links.language_of(request.headers.get("accept-language"))
    return _html(links.LinkPage("invalid", language))


def _html(page: links.LinkPage) -> HTMLResponse:
    return HTMLResponse(
        links.render(page), status_code=LINK_STATUS[page.status], headers=LINK_HEADERS
    )
