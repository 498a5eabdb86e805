"""The intake HTTP API: request -> command -> handler -> response; reads from the read tables.

Who may call what (tests/security/access.csv): staff run the intake (register, numbers,
book, plans, lifecycle); everyone signed in reads clients and books, a client only its own;
the client itself may change its notification preferences and read its plans; the desk
(staff and operators) pops screens. A route with a client in its path first makes sure the
caller may reach it (another client's is as unknown as one that does not exist), lists are
filtered by the caller's tenant in their query, and the caller is the actor of every event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import AwareDatetime

from libs.errors import NotFound
from libs.events import (
    ApiKeyIssued,
    NotificationPreferences,
    OfficeHours,
    PlanChanged,
    SecretaryBookRevised,
    new_id,
)
from libs.platform.api_keys import new_key
from libs.platform.auth import Anyone, Desk, Staff, StaffOrClient
from libs.platform.http import Runtime, Store, app_state, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from libs.platform.runtime import ServiceRuntime
from libs.platform.store import EventStore
from services.intake import metrics, read_model
from services.intake.commands import client_history, execute
from services.intake.domain import commands
from services.intake.domain.phone import normalise_number
from services.intake.domain.rules import book_version_as_of
from services.intake.domain.state import fold
from services.intake.read_model import ClientRow
from services.intake.schemas import (
    ApiKeyCreate,
    ApiKeyIssuedRead,
    ApiKeyRead,
    BookRead,
    BookRevisionRead,
    BookVersion,
    BookWrite,
    CheckedNotification,
    ClientCreate,
    ClientCreated,
    ClientRead,
    Offboarding,
    OffboardingCancel,
    PlanChange,
    PlanRead,
    PlansRead,
    ScreenPop,
    Status,
)
from services.intake.screen_pops import ScreenPops
from services.intake.settings import IntakeSettings
from services.intake.views import (
    api_key_read,
    book_read,
    client_read,
    plans_read,
    screen_pop,
)

READ = refusals(not_found="Unknown client or number, or not the caller's client's")
CHANGE = refusals(
    not_found="Unknown client or number, or not the caller's client's", conflict="Not allowed now"
)
router = APIRouter(
    tags=["intake"],
    responses=refusals(rejected="Malformed request"),
    route_class=IdempotentRoute,
)
ClientId = Annotated[UUID, Path(description="The client's id")]


async def _reachable_client(client_id: ClientId, caller: Anyone) -> UUID:
    """The path's client, if the caller may reach it; else the 404 of an unknown client.

    A dependency, so another client's id is refused before the body is even looked at.
    """
    return caller.own(client_id, "client")


OwnClientId = Annotated[UUID, Depends(_reachable_client)]
"""A client id from the path that the caller may reach (a client: only its own)."""
Number = Annotated[str, Path(max_length=64, description="E.164, e.g. +31851234567")]
AsOf = Annotated[AwareDatetime | None, Query(description="ISO 8601 instant with offset")]
KEYS = refusals(not_found="Unknown client or key", conflict="Not allowed now")
Config = Annotated[IntakeSettings, Depends(service_settings)]
Pops = Annotated[ScreenPops, app_state("screen_pops")]


async def _client(store: EventStore, client_id: UUID, now: datetime) -> ClientRead:
    row = await read_model.client(store.pool, store.schema, client_id)
    if row is None:
        raise NotFound(f"no client {client_id}")
    return await _with_plan(store, row, now)


async def _with_plan(store: EventStore, row: ClientRow, now: datetime) -> ClientRead:
    periods = await read_model.plan_periods(store.pool, store.schema, row.client_id)
    return client_read(row, periods, now)


@router.post("/clients", status_code=201, dependencies=[Idempotent])
async def register_client(
    body: ClientCreate, rt: Runtime, store: Store, caller: Staff
) -> ClientCreated:
    """Register a client from its intake form."""
    default_notification = NotificationPreferences(recipients=(body.contact_email,))
    command = commands.RegisterClient(
        client_id=new_id(),
        at=rt.clock.now(),
        actor=caller.actor(),
        name=body.name,
        contact_email=body.contact_email,
        language=body.language,
        plan=body.plan,
        email_handling=body.email_handling,
        notification=body.notification or default_notification,
        office_hours=body.office_hours,
        cold_calls_free=body.cold_calls_free,
    )
    await execute(store, command)
    return ClientCreated(client_id=command.client_id)


@router.get("/clients")
async def list_clients(
    rt: Runtime,
    store: Store,
    caller: Anyone,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ClientRead]:
    """Clients by name, optionally only those in one status; a client sees only itself."""
    tenant = caller.scope(None)
    rows = await read_model.clients(store.pool, store.schema, status, limit, offset, tenant)
    return [await _with_plan(store, row, rt.clock.now()) for row in rows]


@router.get("/clients/{client_id}", responses=READ)
async def read_client(client_id: OwnClientId, rt: Runtime, store: Store) -> ClientRead:
    """One client, with the plan in force today."""
    return await _client(store, client_id, rt.clock.now())


async def _change(rt: ServiceRuntime, store: EventStore, command: commands.Command) -> ClientRead:
    await execute(store, command)
    return await _client(store, command.client_id, rt.clock.now())


@router.post("/clients/{client_id}/activate", responses=CHANGE)
async def activate_client(
    client_id: ClientId, rt: Runtime, store: Store, caller: Staff
) -> ClientRead:
    """The intake is complete (a book and a number in place; in onboarding, every step before
    active): start answering calls."""
    command = commands.ActivateClient(client_id=client_id, at=rt.clock.now(), actor=caller.actor())
    activated = await _change(rt, store, command)
    metrics.activated(fold(await client_history(store, client_id)).client)
    return activated


@router.post("/clients/{client_id}/offboard", responses=CHANGE)
async def offboard_client(
    client_id: ClientId,
    rt: Runtime,
    store: Store,
    caller: Staff,
    config: Config,
    body: Annotated[Offboarding | None, Body()] = None,
) -> ClientRead:
    """The client leaves now or at `effective_at`; its numbers go into quarantine then."""
    command = commands.OffboardClient(
        client_id=client_id,
        at=rt.clock.now(),
        actor=caller.actor(),
        reason=body.reason if body else "",
        quarantine=config.number_quarantine,
        effective_at=body.effective_at if body else None,
    )
    return await _change(rt, store, command)


@router.post("/clients/{client_id}/offboard/cancel", responses=CHANGE)
async def cancel_offboarding(
    client_id: ClientId, rt: Runtime, store: Store, caller: Staff,
    body: Annotated[OffboardingCancel | None, Body()] = None,
) -> ClientRead:  # fmt: skip
    """The client stays after all: the departure scheduled for later is called off (409 when
    none is scheduled or the client has left)."""
    command = commands.CancelOffboarding(client_id=client_id, at=rt.clock.now(),
                                         actor=caller.actor(),
                                         reason=body.reason if body else "")  # fmt: skip
    return await _change(rt, store, command)


@router.put("/clients/{client_id}/notification", responses=CHANGE)
async def change_notification(
    caller: StaffOrClient,
    client_id: OwnClientId,
    body: CheckedNotification,
    rt: Runtime,
    store: Store,
) -> ClientRead:
    """Replace how and to whom call messages are sent (staff, or the client itself)."""
    command = commands.ChangeNotification(
        client_id=client_id,
        at=rt.clock.now(),
        actor=caller.actor(),
        notification=body,
    )
    return await _change(rt, store, command)


@router.put("/clients/{client_id}/office-hours", responses=CHANGE)
async def change_office_hours(
    client_id: ClientId, body: OfficeHours, rt: Runtime, store: Store, caller: Staff
) -> ClientRead:
    """Replace the client's office hours (weekly schedule, holidays, closures)."""
    command = commands.ChangeOfficeHours(
        client_id=client_id, at=rt.clock.now(), actor=caller.actor(), office_hours=body
    )
    return await _change(rt, store, command)


@router.put("/clients/{client_id}/book", responses=CHANGE)
async def revise_book(
    client_id: ClientId, body: BookWrite, rt: Runtime, store: Store, caller: Staff
) -> BookVersion:
    """Store a new, complete version of the secretary book."""
    command = commands.ReviseBook(
        client_id=client_id,
        at=rt.clock.now(),
        actor=caller.actor(),
        content=_content(body),
        expected_version=body.expected_book_version,
    )
    events = await execute(store, command)
    revised = next(e for e in events if isinstance(e, SecretaryBookRevised))
    return BookVersion(book_version=revised.book_version)


def _content(body: BookWrite) -> commands.BookContent:
    return commands.BookContent(
        greeting=body.greeting,
        instructions=body.instructions,
        faq=tuple(body.faq),
        urgency_rules=tuple(body.urgency_rules),
        escalation_contacts=tuple(body.escalation_contacts),
        temporary_instructions=tuple(body.temporary_instructions),
        after_hours=body.after_hours,
        calendar_url=body.calendar_url,
    )


@router.get("/clients/{client_id}/book", responses=READ)
async def read_book(
    client_id: OwnClientId, rt: Runtime, store: Store, as_of: AsOf = None
) -> BookRead:
    """The book version in force at `as_of` (default now); 404 if there was none yet."""
    await _client(store, client_id, rt.clock.now())
    instant = as_of or rt.clock.now()
    revisions = await read_model.book_revisions(store.pool, store.schema, client_id)
    version = book_version_as_of(revisions, instant)
    row = (
        None
        if version is None
        else await read_model.book(store.pool, store.schema, client_id, version)
    )
    if row is None:
        raise NotFound(f"client {client_id} had no secretary book at {instant.isoformat()}")
    return book_read(row)


@router.get("/clients/{client_id}/book/versions", responses=READ)
async def list_book_versions(
    client_id: OwnClientId, rt: Runtime, store: Store
) -> list[BookRevisionRead]:
    """Every version of the client's book and when it was written."""
    await _client(store, client_id, rt.clock.now())
    revisions = await read_model.book_revisions(store.pool, store.schema, client_id)
    return [BookRevisionRead(book_version=r.version, revised_at=r.revised_at) for r in revisions]


@router.post(
    "/clients/{client_id}/plan", status_code=201, responses=CHANGE, dependencies=[Idempotent]
)
async def change_plan(
    client_id: ClientId, body: PlanChange, rt: Runtime, store: Store, caller: Staff
) -> PlanRead:
    """New commercial terms from `effective_from` (a Europe/Amsterdam day, not in the past)."""
    command = commands.ChangePlan(
        client_id=client_id,
        at=rt.clock.now(),
        actor=caller.actor(),
        plan=body.plan,
        effective_from=body.effective_from,
        email_handling=body.email_handling,
    )
    events = await execute(store, command)
    change = next(e for e in events if isinstance(e, PlanChanged))
    return PlanRead(
        plan=change.plan,
        email_handling=change.email_handling,
        effective_from=change.effective_from,
        recorded_at=change.occurred_at,
    )


@router.get("/clients/{client_id}/plans", responses=READ)
async def list_plans(
    _: StaffOrClient, client_id: OwnClientId, rt: Runtime, store: Store
) -> PlansRead:
    """The plan in force today and the whole plan history (staff, or the client itself)."""
    await _client(store, client_id, rt.clock.now())
    periods = await read_model.plan_periods(store.pool, store.schema, client_id)
    return plans_read(periods, rt.clock.now())


@router.get("/numbers/{number}", responses=READ)
async def read_screen_pop(
    number: Number, rt: Runtime, store: Store, caller: Desk, pops: Pops
) -> ScreenPop:
    """The screen pop: the client holding the number and its book as in force now.

    Answered from the rows this process keeps (services/intake/screen_pops.py) while they are
    current; the caller's tenant is checked on every request, kept row or not.
    """
    normal = normalise_number(number)
    row = pops.get(normal)
    if row is None:
        generation = pops.generation
        row = await read_model.screen_pop(store.pool, store.schema, normal, None)
        if row is not None:
            pops.put(row, generation)
    if row is None or not caller.sees(row.client.client_id):
        raise NotFound(f"no client holds {normal}")
    return screen_pop(row, rt.clock.now())


# No Idempotency-Key on issuing a key: the answer kept for a repeat would hold the secret.
@router.post("/api-keys", status_code=201, responses=KEYS)
async def issue_api_key(
    body: ApiKeyCreate, rt: Runtime, store: Store, caller: Staff
) -> ApiKeyIssuedRead:
    """Issue an API key for a machine client of one client; the key is shown only here."""
    made = new_key(new_id())
    command = commands.IssueApiKey(
        client_id=body.client_id,
        at=rt.clock.now(),
        actor=caller.actor(),
        key_id=made.key_id,
        role=body.role,
        name=body.name,
        secret_sha256=made.secret_sha256,
    )
    issued = next(e for e in await execute(store, command) if isinstance(e, ApiKeyIssued))
    return ApiKeyIssuedRead(
        key_id=issued.key_id,
        key=made.key,
        client_id=issued.client_id,
        role=issued.role,
        name=issued.name,
        issued_at=issued.occurred_at,
    )


@router.get("/api-keys")
async def list_api_keys(
    store: Store, _: Staff, client_id: Annotated[UUID | None, Query()] = None
) -> list[ApiKeyRead]:
    """The keys issued (of one client, or of all), revoked ones included; never a secret."""
    rows = await read_model.api_key_list(store.pool, store.schema, client_id)
    return [api_key_read(row) for row in rows]


@router.delete("/api-keys/{key_id}", status_code=204, responses=KEYS)
async def revoke_api_key(
    key_id: Annotated[UUID, Path()], rt: Runtime, store: Store, caller: Staff
) -> Response:
    """Revoke a key: every service refuses it once it has read the revocation."""
    row = await read_model.api_key(store.pool, store.schema, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    command = commands.RevokeApiKey(
        client_id=row.client_id, at=rt.clock.now(), actor=caller.actor(), key_id=key_id
    )
    await execute(store, command)
    return Response(status_code=204)
