"""The calendar HTTP API: linking a client's calendar, appointments from calls, callbacks.

Thin on purpose: request model -> command -> handler -> response; refusals are mapped to
HTTP statuses in one place (libs.platform.problems). A calendar that cannot be reached while
an appointment is written is a 503 and records nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query

from libs.availability import Interval, availability
from libs.errors import NotFound
from libs.events.calendar import CalendarObserved
from libs.events.catalogue import decode
from libs.events.values import Language
from libs.platform.auth import Anyone, Desk, StaffOrClient
from libs.platform.http import Box, Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from services.calendar import appointments, callbacks, commands, directory, linking
from services.calendar.adapters.port import CalendarUnavailable
from services.calendar.domain import callbacks as callback_rules
from services.calendar.domain.appointments import Appointment, Attendee
from services.calendar.domain.links import ChangePermission, LinkCalendar, Unlink
from services.calendar.schemas import (
    AppointmentCreate,
    AppointmentRead,
    AssignCreate,
    AttendeeIn,
    AvailabilityRead,
    BusyRead,
    CallbackRead,
    CancelCreate,
    DoneCreate,
    FailedCreate,
    LinkPut,
    LinkRead,
    PermissionPut,
    ProposalCreate,
    Span,
)
from services.calendar.settings import CalendarSettings

router = APIRouter(tags=["calendar"], route_class=IdempotentRoute)
ERRORS = refusals(
    not_found="No such client calendar, call, appointment or callback",
    conflict="Not possible in the current state (read-only calendar, busy time, finished)",
    rejected="Invalid request, or the calendar could not be read with what was given",
    forbidden="Not the caller's to do",
)
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The client's calendar cannot be reached just now"}
}
Config = Annotated[CalendarSettings, Depends(service_settings)]


# ---------------------------------------------------------------------- linking


@router.put("/clients/{client_id}/calendar", responses=ERRORS)
async def link_calendar(
    client_id: UUID, body: LinkPut, rt: Runtime, store: Store, caller: StaffOrClient,
    config: Config, box: Box,
) -> LinkRead:  # fmt: skip
    """Link the client's calendar (staff, or the client itself); read once to check it first.

    The credential is sealed and never shown again; linking anew replaces the previous link.
    """
    caller.own(client_id, "client")
    await _known_client(store, client_id)
    command = LinkCalendar(
        client_id=client_id, at=rt.clock.now(), actor=caller.actor(), provider=body.provider,
        calendar=body.calendar, account=body.account, permission=body.permission,
        show_titles=body.show_titles, callback_block=body.callback_block,
    )  # fmt: skip
    secret = body.secret.get_secret_value()
    await commands.verify(command, secret, config)
    view = await commands.change_link(store, command, box=box, secret=secret)
    return LinkRead.model_validate(view)


@router.put("/clients/{client_id}/calendar/permission", responses=ERRORS)
async def change_permission(
    client_id: UUID, body: PermissionPut, rt: Runtime, store: Store, caller: StaffOrClient
) -> LinkRead:
    """Change what the bureau may do with the calendar, what operators see, the block."""
    caller.own(client_id, "client")
    command = ChangePermission(
        client_id=client_id, at=rt.clock.now(), actor=caller.actor(),
        permission=body.permission, show_titles=body.show_titles,
        callback_block=body.callback_block,
    )  # fmt: skip
    return LinkRead.model_validate(await commands.change_link(store, command))


@router.delete("/clients/{client_id}/calendar", responses=ERRORS)
async def unlink_calendar(
    client_id: UUID, rt: Runtime, store: Store, caller: StaffOrClient
) -> LinkRead:
    """Unlink the calendar; its credential is destroyed."""
    caller.own(client_id, "client")
    command = Unlink(client_id=client_id, at=rt.clock.now(), actor=caller.actor())
    return LinkRead.model_validate(await commands.change_link(store, command))


@router.get("/clients/{client_id}/calendar", responses=ERRORS)
async def get_calendar(client_id: UUID, rt: Runtime, store: Store, caller: Anyone) -> LinkRead:
    """The link, when the calendar was last read, and free or busy now from that read."""
    caller.own(client_id, "client")
    row = await linking.get(store.pool, store.schema, client_id)
    if row is None:
        raise NotFound(f"client {client_id} has no linked calendar")
    view = LinkRead.model_validate(linking.view(row))
    observed = decode(row["observed"]) if row["observed"] else None
    facts = await directory.client_facts(store.pool, store.schema, client_id)
    if isinstance(observed, CalendarObserved) and row["linked"]:
        view.busy = [BusyRead(**s.model_dump()) for s in observed.busy]
        if facts is not None:
            view.availability = _availability(observed, facts.office_hours, rt.clock.now(), row)
    return view


def _availability(
    observed: CalendarObserved, hours: Any, now: datetime, row: Any
) -> AvailabilityRead:
    zone = ZoneInfo(hours.timezone)
    day_end = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(), zone)
    stale = row["unreachable_since"] is not None or row["last_read_ok"] is False
    if not observed.window_start <= now < observed.window_end:
        return AvailabilityRead(state="unknown", read_at=observed.read_at, stale=True)
    busy = [Interval(s.start, s.end) for s in observed.busy]
    found = availability(now, busy, min(day_end, observed.window_end), hours)
    slot = found.next_free
    return AvailabilityRead(
        state="busy" if found.busy else "free",
        until=found.until,
        next_free_slot=BusyRead(start=slot.start, end=slot.end) if slot else None,
        read_at=observed.read_at,
        stale=stale,
    )


async def _known_client(store: Store, client_id: UUID) -> None:
    facts = await directory.client_facts(store.pool, store.schema, client_id)
    if facts is None or facts.offboarded:
        raise NotFound(f"no client {client_id}")


# ---------------------------------------------------------------------- appointments


@router.post(
    "/calls/{call_id}/appointments", status_code=201, dependencies=[Idempotent],
    responses={**ERRORS, **UNAVAILABLE},
)  # fmt: skip
async def book_appointment(
    call_id: UUID, body: AppointmentCreate, rt: Runtime, store: Store, caller: Desk,
    config: Config, box: Box,
) -> AppointmentRead:  # fmt: skip
    """Book an appointment from the call into the client's calendar (write permission).

    Checked against the calendar's busy time (409 when it clashes), written once with a stable
    iCalendar UID, then recorded as AppointmentBooked. A read-only calendar is a 409: propose
    times instead.
    """
    draft = Appointment(
        appointment_id=call_id, when=Interval(body.start, body.end), title=body.title,
        location=body.location, description=body.description,
        attendee=_attendee(body.attendee),
    )  # fmt: skip
    row = await _reaching(
        appointments.book(
            store,
            box,
            config,
            call_id,
            draft,
            actor=caller.actor(),
            now=rt.clock.now(),
            tenant=caller.tenant,
        )
    )
    return AppointmentRead.of(row)


@router.post(
    "/calls/{call_id}/appointment-proposals", status_code=201, dependencies=[Idempotent],
    responses=ERRORS,
)  # fmt: skip
async def propose_times(
    call_id: UUID, body: ProposalCreate, rt: Runtime, store: Store, caller: Desk
) -> AppointmentRead:
    """Record the times proposed to the caller; the client's message asks it to confirm one."""
    times = [Interval(t.start, t.end) for t in body.times]
    attendee = _attendee(body.attendee) or Attendee(name="")
    row = await appointments.propose(
        store, call_id, body.title, times, attendee, actor=caller.actor(), now=rt.clock.now(),
        tenant=caller.tenant,
    )  # fmt: skip
    return AppointmentRead.of(row)


@router.get("/calls/{call_id}/appointments", responses=ERRORS)
async def call_appointments(call_id: UUID, store: Store, caller: Anyone) -> list[AppointmentRead]:
    """The appointments booked or proposed from a call (a client sees its own calls only)."""
    rows = await appointments.for_call(store.pool, store.schema, call_id, caller.tenant)
    return [AppointmentRead.of(row) for row in rows]


@router.get("/appointments/{appointment_id}", responses=ERRORS)
async def get_appointment(appointment_id: UUID, store: Store, caller: Anyone) -> AppointmentRead:
    """One appointment."""
    row = await appointments.get(store.pool, store.schema, appointment_id, caller.tenant)
    if row is None:
        raise NotFound(f"no appointment {appointment_id}")
    return AppointmentRead.of(row)


@router.post(
    "/appointments/{appointment_id}/move", dependencies=[Idempotent],
    responses={**ERRORS, **UNAVAILABLE},
)  # fmt: skip
async def move_appointment(
    appointment_id: UUID, body: Span, rt: Runtime, store: Store, caller: Desk, config: Config,
    box: Box,
) -> AppointmentRead:  # fmt: skip
    """Move a booked appointment to a free time; the calendar's entry is rewritten."""
    when = Interval(body.start, body.end)
    row = await _reaching(
        appointments.move(
            store,
            box,
            config,
            appointment_id,
            when,
            actor=caller.actor(),
            now=rt.clock.now(),
            tenant=caller.tenant,
        )
    )
    return AppointmentRead.of(row)


@router.post(
    "/appointments/{appointment_id}/cancel", dependencies=[Idempotent],
    responses={**ERRORS, **UNAVAILABLE},
)  # fmt: skip
async def cancel_appointment(
    appointment_id: UUID, body: CancelCreate, rt: Runtime, store: Store, caller: Desk,
    config: Config, box: Box,
) -> AppointmentRead:  # fmt: skip
    """Cancel a booked appointment; its entry leaves the calendar."""
    row = await _reaching(
        appointments.cancel(
            store,
            box,
            config,
            appointment_id,
            body.reason,
            actor=caller.actor(),
            now=rt.clock.now(),
            tenant=caller.tenant,
        )
    )
    return AppointmentRead.of(row)


def _attendee(body: AttendeeIn | None) -> Attendee | None:
    if body is None or not (body.name or body.email or body.phone):
        return None
    return Attendee(name=body.name or body.email or body.phone or "", email=body.email,
                    phone=body.phone)  # fmt: skip


async def _reaching(work: Any) -> Any:
    """Await a command that writes the calendar; 503 when the calendar cannot be reached."""
    try:
        return await work
    except CalendarUnavailable as exc:
        raise HTTPException(
            503, f"the client's calendar cannot be reached: {exc}", headers={"Retry-After": "30"}
        ) from exc


# ---------------------------------------------------------------------- callbacks

Status = Literal["open", "done", "failed"]
OperatorQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._@:-]{1,100}$")]


@router.get("/callbacks", responses=ERRORS)
async def list_callbacks(
    rt: Runtime, store: Store, caller: Anyone, config: Config, client_id: UUID | None = None,
    status: Status | None = None, assigned_to: OperatorQuery = None,
    language: Language | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CallbackRead]:  # fmt: skip
    """The callback list, escalated and due first (a client sees its own callers only)."""
    scoped = caller.scope(client_id)
    rows = await callbacks.listing(
        store.pool, store.schema, client_id=scoped, status=status, assigned_to=assigned_to,
        language=language, limit=limit,
    )  # fmt: skip
    now = rt.clock.now()
    return [_callback(row, now, config) for row in rows]


@router.get("/callbacks/{callback_id}", responses=ERRORS)
async def get_callback(
    callback_id: UUID, rt: Runtime, store: Store, caller: Anyone, config: Config
) -> CallbackRead:
    """One callback."""
    row = await callbacks.get(store.pool, store.schema, callback_id, caller.tenant)
    if row is None:
        raise NotFound(f"no callback {callback_id}")
    return _callback(row, rt.clock.now(), config)


@router.post("/callbacks/{callback_id}/assign", responses=ERRORS, dependencies=[Idempotent])
async def assign_callback(
    callback_id: UUID, body: AssignCreate, rt: Runtime, store: Store, caller: Desk,
    config: Config,
) -> CallbackRead:  # fmt: skip
    """Take the callback (an operator, for themself) or give it to an operator (staff)."""
    now = rt.clock.now()
    row = await callbacks.assign(store, callback_id, body.operator_id, caller=caller, now=now)
    return _callback(row, now, config)


@router.post("/callbacks/{callback_id}/done", responses=ERRORS, dependencies=[Idempotent])
async def callback_done(
    callback_id: UUID, body: DoneCreate, rt: Runtime, store: Store, caller: Desk, config: Config
) -> CallbackRead:
    """The caller was called back: the callback leaves the list (409 once finished)."""
    now = rt.clock.now()
    row = await callbacks.finish(
        store, callback_id, "done", caller=caller, now=now, comment=body.comment
    )
    return _callback(row, now, config)


@router.post("/callbacks/{callback_id}/failed", responses=ERRORS, dependencies=[Idempotent])
async def callback_failed(
    callback_id: UUID, body: FailedCreate, rt: Runtime, store: Store, caller: Desk,
    config: Config,
) -> CallbackRead:  # fmt: skip
    """Calling back did not work, for a reason: the callback leaves the list."""
    now = rt.clock.now()
    row = await callbacks.finish(
        store, callback_id, "failed", caller=caller, now=now, reason=body.reason,
        comment=body.comment,
    )  # fmt: skip
    return _callback(row, now, config)


def _callback(row: dict[str, Any], now: datetime, config: CalendarSettings) -> CallbackRead:
    overdue = callback_rules.overdue(callbacks.state(row), now, config.callback_grace)  # type: ignore[arg-type]
    return CallbackRead.model_validate({**row, "overdue": overdue})
