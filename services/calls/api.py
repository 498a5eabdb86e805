"""The calls HTTP API: request model -> command -> handler -> response. Thin on purpose.

Who may call what (tests/security/access.csv): the desk (staff and operators) runs the call
lifecycle, only staff revert a non-billable mark or import calls, and everyone signed in reads
calls, a client only its own. The caller is the actor of every event a route causes, and the
operator of a call it answers or notes; a client-bound caller's tenant goes into every query
and command, so another client's call is as unknown as one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from libs.errors import NotFound, Rejected
from libs.events.envelope import new_id
from libs.events.values import PhoneNumber
from libs.office_hours import office_status
from libs.platform.auth import Anyone, Desk, Principal, Staff
from libs.platform.http import Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from libs.platform.store import EventStore
from services.calls import directory, follow_ups, read_model
from services.calls.commands import execute
from services.calls.domain import commands
from services.calls.schemas import (
    AnnouncedMailConfirm,
    AnnouncedMailRead,
    CallAnswer,
    CallCreate,
    CallDetail,
    CallRead,
    ClientRead,
    EscalationCreate,
    EscalationRead,
    Instant,
    LineRead,
    NonBillableCreate,
    NoteCreate,
    NoteRead,
    ScreenPop,
    ShortText,
    TransferCreate,
    VoicemailCreate,
)
from services.calls.screen import screen_pop
from services.calls.settings import CallsSettings

router = APIRouter(tags=["calls"], route_class=IdempotentRoute)
Config = Annotated[CallsSettings, Depends(service_settings)]
ERRORS = refusals(
    not_found="No such call (or no client holds the number)",
    conflict="Not possible in the call's current state",
    rejected="Invalid request, or a business rule refuses it",
)
READS = refusals(
    not_found="No such call, or not the caller's client's",
    rejected="Invalid query",
)


def by(caller: Principal) -> dict[str, Any]:
    """The command fields that say who gives it: the caller as actor, and its tenant."""
    return {"actor": caller.actor(), "tenant": caller.tenant}


@router.post("/calls", status_code=201, responses=ERRORS, dependencies=[Idempotent])
async def receive_call(
    body: CallCreate, rt: Runtime, store: Store, config: Config, caller: Desk
) -> ScreenPop:
    """A call to a reserved number arrived: record it and return the screen pop.

    `received_at` may lie at most FRONTDESK_CALLS_MAX_BACKDATE_SECONDS back (default an hour),
    never before the number was assigned to the client, and not in the future. `import` is
    staff-only (an operator gets 403): an imported call is exempt from the backdating window
    and recorded as imported. The screen pop's `calendar` is the client's calendar now, from
    what calls last learnt of it (stale after FRONTDESK_CALLS_CALENDAR_STALE_SECONDS).
    """
    now = rt.clock.now()
    command = commands.ReceiveCall(
        call_id=new_id(),
        at=now,
        **by(caller),
        dialled_number=body.dialled_number,
        caller_number=body.caller_number,
        received_at=body.received_at or now,
        caller_language=body.caller_language,
        imported=body.imported,
        max_backdate=config.max_backdate,
    )
    outcome = await execute(store, command)
    return await read_screen(store, outcome.call.call_id, caller, rt.clock.now(), config)


async def read_screen(
    store: EventStore, call_id: UUID, caller: Principal, now: datetime, config: CallsSettings
) -> ScreenPop:
    """The screen pop of a recorded call, its client's calendar as of `now`."""
    pop = await screen_pop(
        store.pool,
        store.schema,
        call_id,
        caller.tenant,
        now=now,
        calendar_stale=config.calendar_stale,
    )
    if pop is None:
        raise NotFound(f"the client of call {call_id} is no longer known")
    return ScreenPop.model_validate(pop)


@router.post("/calls/{call_id}/answer", responses=ERRORS)
async def answer_call(
    call_id: UUID, body: CallAnswer, rt: Runtime, store: Store, caller: Desk
) -> CallRead:
    """The caller (an operator) picks up the call; they become its operator."""
    command = commands.AnswerCall(
        call_id=call_id,
        at=rt.clock.now(),
        **by(caller),
        operator_id=caller.subject,
        language=body.language,
    )
    return await _run(store, command, caller)


@router.post("/calls/{call_id}/notes", status_code=201, responses=ERRORS, dependencies=[Idempotent])
async def record_note(
    call_id: UUID, body: NoteCreate, rt: Runtime, store: Store, caller: Desk
) -> NoteRead:
    """Record the message for the client; it keeps the book version that was on screen.

    The note's operator is the caller who records it.
    """
    command = commands.RecordNote(
        call_id=call_id,
        at=rt.clock.now(),
        **by(caller),
        operator_id=caller.subject,
        **body.model_dump(),
    )
    call = await _run(store, command, caller)
    assert call.note is not None
    return call.note


@router.post(
    "/calls/{call_id}/escalations", status_code=201, responses=ERRORS, dependencies=[Idempotent]
)
async def request_escalation(
    call_id: UUID, body: EscalationCreate, rt: Runtime, store: Store, caller: Desk
) -> EscalationRead:
    """Escalate the call under one of the book's urgency rules."""
    command = commands.RequestEscalation(
        call_id=call_id,
        at=rt.clock.now(),
        **by(caller),
        escalation_id=new_id(),
        urgency_kind=body.urgency_kind,
        reason=body.reason,
    )
    call = await _run(store, command, caller)
    return next(e for e in call.escalations if e.escalation_id == command.escalation_id)


@router.post("/calls/{call_id}/transfer", responses=ERRORS, dependencies=[Idempotent])
async def transfer_call(
    call_id: UUID, body: TransferCreate, rt: Runtime, store: Store, caller: Desk
) -> CallRead:
    """Put the call through to another number."""
    command = commands.TransferCall(
        call_id=call_id,
        at=rt.clock.now(),
        **by(caller),
        to_number=body.to_number,
        escalation_id=body.escalation_id,
    )
    return await _run(store, command, caller)


@router.post(
    "/calls/{call_id}/voicemail", status_code=201, responses=ERRORS, dependencies=[Idempotent]
)
async def record_voicemail(
    call_id: UUID, body: VoicemailCreate, rt: Runtime, store: Store, caller: Desk
) -> CallRead:
    """The caller left a voicemail (after hours, or no operator free)."""
    command = commands.RecordVoicemail(
        call_id=call_id, at=rt.clock.now(), **by(caller), **body.model_dump()
    )
    return await _run(store, command, caller)


@router.post("/calls/{call_id}/end", responses=ERRORS)
async def end_call(call_id: UUID, rt: Runtime, store: Store, caller: Desk) -> CallRead:
    """The line was closed."""
    command = commands.EndCall(call_id=call_id, at=rt.clock.now(), **by(caller))
    return await _run(store, command, caller)


@router.post(
    "/calls/{call_id}/non-billable", status_code=201, responses=ERRORS, dependencies=[Idempotent]
)
async def mark_non_billable(
    call_id: UUID, body: NonBillableCreate, rt: Runtime, store: Store, caller: Desk
) -> CallRead:
    """Do not bill the call (cold_call only where the client agreed cold calls are free)."""
    command = commands.MarkNonBillable(
        call_id=call_id,
        at=rt.clock.now(),
        **by(caller),
        reason=body.reason,
        comment=body.comment,
    )
    return await _run(store, command, caller)


@router.delete("/calls/{call_id}/non-billable", responses=ERRORS)
async def restore_billability(
    call_id: UUID,
    rt: Runtime,
    store: Store,
    caller: Staff,
    comment: Annotated[ShortText, Query()] = "",
) -> CallRead:
    """Revert the call's non-billable mark: it is billable again (staff only)."""
    command = commands.RestoreBillability(
        call_id=call_id, at=rt.clock.now(), **by(caller), comment=comment
    )
    return await _run(store, command, caller)


@router.get("/announced-mails", responses=READS)
async def list_announced_mails(
    store: Store,
    caller: Anyone,
    client_id: UUID | None = None,
    status: Literal["proposed", "confirmed", "marked_otherwise"] | None = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AnnouncedMailRead]:
    """Calls whose caller e-mailed as they said they would, newest first: each is proposed
    as not billable until someone confirms it. A client sees only its own."""
    rows = await follow_ups.listing(
        store.pool, store.schema, tenant=caller.tenant, client_id=caller.scope(client_id),
        status=status, since=since, limit=limit,
    )  # fmt: skip
    return [AnnouncedMailRead.model_validate(row) for row in rows]


@router.get("/calls/{call_id}/announced-mail", responses=READS)
async def get_announced_mail(call_id: UUID, store: Store, caller: Anyone) -> AnnouncedMailRead:
    """The mail the call's caller announced, when it arrived (404 until then)."""
    row = await follow_ups.of_call(store.pool, store.schema, call_id, caller.tenant)
    if row is None:
        raise NotFound(f"no announced mail found for call {call_id}")
    return AnnouncedMailRead.model_validate(row)


@router.post(
    "/calls/{call_id}/announced-mail/confirm",
    status_code=201,
    responses=ERRORS,
    dependencies=[Idempotent],
)
async def confirm_announced_mail(
    call_id: UUID, body: AnnouncedMailConfirm, rt: Runtime, store: Store, caller: Anyone
) -> CallRead:
    """Confirm the caller followed up by e-mail: the call is not billed, the mail its evidence.

    Operators, staff and the call's own client may confirm; 409 when the call is marked already.
    """
    outcome = await follow_ups.confirm(store, call_id, caller, rt.clock.now(), body.comment)
    row = await read_model.get_call(store.pool, store.schema, outcome.call.call_id, caller.tenant)
    return CallRead.model_validate(row)


@router.get("/calls", responses=READS)
async def list_calls(
    store: Store,
    caller: Anyone,
    client_id: UUID | None = None,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[CallRead]:
    """Calls received in [from, to), of one client or all, oldest first.

    A client sees only its own calls; asking for another client's is a 404.
    """
    if start is not None and end is not None and start > end:
        raise Rejected("'from' must not be after 'to'")
    rows = await read_model.list_calls(
        store.pool,
        store.schema,
        client_id=caller.scope(client_id),
        start=start,
        end=end,
        limit=limit,
    )
    return [CallRead.model_validate(row) for row in rows]


@router.get("/calls/{call_id}", responses=READS)
async def get_call(call_id: UUID, store: Store, caller: Anyone) -> CallDetail:
    """One call with its event history (a client's own calls only)."""
    row = await read_model.get_call(store.pool, store.schema, call_id, caller.tenant)
    if row is None:
        raise NotFound(f"no call {call_id}")
    events = await read_model.history(store.pool, store.schema, call_id, caller.tenant)
    return CallDetail.model_validate({**row, "history": events})


@router.get("/calls/{call_id}/screen-pop", responses=ERRORS)
async def get_screen_pop(
    call_id: UUID, rt: Runtime, store: Store, config: Config, caller: Desk
) -> ScreenPop:
    """The screen pop of a call already received: what the operator the call was routed to
    shows (company, greeting, office state, the book in force, calendar state), as of now."""
    if await read_model.get_call(store.pool, store.schema, call_id, caller.tenant) is None:
        raise NotFound(f"no call {call_id}")
    return await read_screen(store, call_id, caller, rt.clock.now(), config)


@router.get("/lines/{number}", responses=ERRORS)
async def read_line(number: PhoneNumber, rt: Runtime, store: Store, caller: Desk) -> LineRead:
    """What calls knows of a forwarding number now: its client, book version, office state."""
    line = await directory.line_for(store.pool, store.schema, number, caller.tenant)
    if line is None:
        raise NotFound(f"no client holds {number}")
    card = await directory.client_card(store.pool, store.schema, line.client_id, None)
    assert card is not None, "a line is a number joined with its client"
    status = office_status(line.office_hours, rt.clock.now())
    return LineRead(
        number=number,
        client=ClientRead(id=card.client_id, name=card.name, language=card.language),
        client_status=line.status,
        book_version=line.book_version,
        office_open=status.open,
        office_status=status.reason,
    )


async def _run(store: EventStore, command: commands.Command, caller: Principal) -> CallRead:
    outcome = await execute(store, command)
    row = await read_model.get_call(store.pool, store.schema, outcome.call.call_id, caller.tenant)
    return CallRead.model_validate(row)
