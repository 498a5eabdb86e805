"""Appointments booked from a call into the client's calendar, moved and cancelled.

The calendar is written first, then the event recorded. The entry's UID follows from the
appointment's id, and the id from the call and the time asked for, so a retry after a crash
between the two writes replaces the one entry rather than adding a second, and then records
the event once. Busy time is checked live against the calendar just before writing.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from functools import partial
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg
import structlog

from libs.availability import Interval
from libs.errors import Conflict, NotFound
from libs.events.calendar import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMoved,
    AppointmentProposed,
    ProposedTime,
)
from libs.events.envelope import Actor
from libs.platform.sealed import SecretBox
from libs.platform.store import ConcurrencyConflict, EventStore
from services.calendar import directory, linking, metrics
from services.calendar.adapters.port import CalendarPort, CalendarUnavailable
from services.calendar.directory import Queryable
from services.calendar.domain.appointments import Appointment, Attendee, checked, fits
from services.calendar.domain.links import require_writable
from services.calendar.settings import CalendarSettings

log = structlog.get_logger(__name__)


def stream(appointment_id: UUID) -> str:
    """The stream of one appointment's events."""
    return f"appointment-{appointment_id}"


def appointment_id_for(call_id: UUID, when: Interval) -> UUID:
    """The id of the appointment booked from a call at a time (the same on every retry)."""
    return uuid5(NAMESPACE_URL, f"frontdesk:appointment:{call_id}:{when.start}:{when.end}")


async def _call_client(db: Queryable, schema: str, call_id: UUID, tenant: UUID | None) -> UUID:
    call = await directory.call_facts(db, schema, call_id)
    if call is None or (tenant is not None and call["client_id"] != tenant):
        raise NotFound(f"no call {call_id} (a call just received reaches the calendar in a moment)")
    client_id: UUID = call["client_id"]
    return client_id


async def book(
    store: EventStore,
    box: SecretBox | None,
    config: CalendarSettings,
    call_id: UUID,
    draft: Appointment,
    *,
    actor: Actor,
    now: datetime,
    tenant: UUID | None = None,
) -> dict[str, Any]:
    """Book the appointment from the call: checked, free, written once, then recorded."""
    schema = store.schema
    client_id = await _call_client(store.pool, schema, call_id, tenant)
    row = await linking.get(store.pool, schema, client_id)
    require_writable(linking.link_of(row))
    assert row is not None
    appointment = checked(
        Appointment(
            appointment_id=appointment_id_for(call_id, draft.when), when=draft.when,
            title=draft.title, location=draft.location, description=draft.description,
            attendee=draft.attendee,
        )
    )  # fmt: skip
    existing = await get(store.pool, schema, appointment.appointment_id, None)
    if existing is not None and existing["status"] == "booked":
        return existing  # booked already (a retry): nothing is written twice
    port = await linking.checked_adapter(row, box, config)
    busy = await _timed(row["provider"], "book", port.busy(
        appointment.when.start, appointment.when.end, ignoring=appointment.uid
    ))  # fmt: skip
    fits(appointment, busy)
    await _timed(row["provider"], "book", port.put(appointment))
    written(row["provider"], "book")
    attendee = appointment.attendee or Attendee(name="")
    event = AppointmentBooked(
        client_id=client_id, occurred_at=now, actor=actor,
        appointment_id=appointment.appointment_id, call_id=call_id, uid=appointment.uid,
        start=appointment.when.start, end=appointment.when.end, title=appointment.title,
        location=appointment.location, attendee_name=attendee.name[:500],
        attendee_email=attendee.email or "", attendee_phone=attendee.phone,
    )  # fmt: skip
    try:
        async with store.transaction() as conn:
            await store.append(stream(appointment.appointment_id), 0, [event], conn=conn)
            saved = await conn.fetchrow(
                f"INSERT INTO {schema}.appointments (appointment_id, version, client_id, call_id, "
                "status, uid, starts_at, ends_at, title, location, attendee, created_at, "
                "updated_at) VALUES ($1, 1, $2, $3, 'booked', $4, $5, $6, $7, $8, $9::jsonb, $10, "
                "$10) RETURNING *",
                appointment.appointment_id, client_id, call_id, appointment.uid,
                appointment.when.start, appointment.when.end, appointment.title,
                appointment.location, json.dumps(attendee.__dict__), now,
            )  # fmt: skip
    except (ConcurrencyConflict, asyncpg.UniqueViolationError) as exc:
        raise Conflict(f"appointment {appointment.appointment_id} was recorded already") from exc
    assert saved is not None
    log.info("appointment.booked", appointment_id=str(appointment.appointment_id))
    return dict(saved)


async def move(
    store: EventStore,
    box: SecretBox | None,
    config: CalendarSettings,
    appointment_id: UUID,
    when: Interval,
    *,
    actor: Actor,
    now: datetime,
    tenant: UUID | None = None,
) -> dict[str, Any]:
    """Move a booked appointment: the new time checked free (but for itself), then rewritten."""
    current, row, port = await _booked_in_calendar(store, box, config, appointment_id, tenant)
    attendee = json.loads(current["attendee"]) if current["attendee"] else {}
    appointment = checked(
        Appointment(
            appointment_id=appointment_id, when=when, title=current["title"],
            location=current["location"],
            attendee=Attendee(**attendee) if attendee.get("name") else None,
        )
    )  # fmt: skip
    busy = await _timed(
        row["provider"], "move", port.busy(when.start, when.end, ignoring=appointment.uid)
    )
    fits(appointment, busy)
    await _timed(row["provider"], "move", port.put(appointment))
    written(row["provider"], "move")
    event = AppointmentMoved(
        client_id=current["client_id"], occurred_at=now, actor=actor,
        appointment_id=appointment_id, call_id=current["call_id"], start=when.start, end=when.end,
    )  # fmt: skip
    return await _record(store, current, event, "booked", when)


async def cancel(
    store: EventStore,
    box: SecretBox | None,
    config: CalendarSettings,
    appointment_id: UUID,
    reason: str,
    *,
    actor: Actor,
    now: datetime,
    tenant: UUID | None = None,
) -> dict[str, Any]:
    """Cancel a booked appointment: removed from the calendar, then recorded."""
    current, row, port = await _booked_in_calendar(store, box, config, appointment_id, tenant)
    await _timed(row["provider"], "cancel", port.remove(current["uid"]))
    written(row["provider"], "cancel")
    event = AppointmentCancelled(
        client_id=current["client_id"], occurred_at=now, actor=actor,
        appointment_id=appointment_id, call_id=current["call_id"], reason=reason,
    )  # fmt: skip
    return await _record(store, current, event, "cancelled", None)


async def propose(
    store: EventStore,
    call_id: UUID,
    title: str,
    times: list[Interval],
    attendee: Attendee,
    *,
    actor: Actor,
    now: datetime,
    tenant: UUID | None = None,
) -> dict[str, Any]:
    """Record the times the operator proposed (a read-only calendar: the client confirms)."""
    schema = store.schema
    client_id = await _call_client(store.pool, schema, call_id, tenant)
    for when in times:
        checked(Appointment(appointment_id=call_id, when=when, title=title))
    first = times[0]
    appointment_id = uuid5(NAMESPACE_URL, f"frontdesk:proposal:{call_id}:{first.start}")
    existing = await get(store.pool, schema, appointment_id, None)
    if existing is not None:
        return existing
    event = AppointmentProposed(
        client_id=client_id, occurred_at=now, actor=actor, appointment_id=appointment_id,
        call_id=call_id, title=title,
        times=tuple(ProposedTime(start=t.start, end=t.end) for t in times),
        attendee_name=attendee.name[:500], attendee_phone=attendee.phone,
    )  # fmt: skip
    proposed = json.dumps([{"start": t.start.isoformat(), "end": t.end.isoformat()} for t in times])
    try:
        async with store.transaction() as conn:
            await store.append(stream(appointment_id), 0, [event], conn=conn)
            saved = await conn.fetchrow(
                f"INSERT INTO {schema}.appointments (appointment_id, version, client_id, call_id, "
                "status, uid, title, attendee, times, created_at, updated_at) "
                "VALUES ($1, 1, $2, $3, 'proposed', '', $4, $5::jsonb, $6::jsonb, $7, $7) "
                "RETURNING *",
                appointment_id, client_id, call_id, title, json.dumps(attendee.__dict__),
                proposed, now,
            )  # fmt: skip
    except (ConcurrencyConflict, asyncpg.UniqueViolationError) as exc:
        raise Conflict("those times were proposed already") from exc
    assert saved is not None
    return dict(saved)


async def _booked_in_calendar(
    store: EventStore,
    box: SecretBox | None,
    config: CalendarSettings,
    appointment_id: UUID,
    tenant: UUID | None,
) -> tuple[dict[str, Any], asyncpg.Record, CalendarPort]:
    """A booked appointment, its client's link row and the calendar to change it in."""
    current = await get(store.pool, store.schema, appointment_id, tenant)
    if current is None:
        raise NotFound(f"no appointment {appointment_id}")
    if current["status"] != "booked":
        raise Conflict(f"the appointment is {current['status']}")
    row = await linking.get(store.pool, store.schema, current["client_id"])
    require_writable(linking.link_of(row))
    assert row is not None
    return current, row, await linking.checked_adapter(row, box, config)


async def _record(
    store: EventStore,
    current: dict[str, Any],
    event: AppointmentMoved | AppointmentCancelled,
    status: str,
    when: Interval | None,
) -> dict[str, Any]:
    """Append the event at the appointment's version and write its row."""
    schema = store.schema
    try:
        async with store.transaction() as conn:
            append = partial(store.append, conn=conn)
            await append(stream(current["appointment_id"]), current["version"], [event])
            saved = await conn.fetchrow(
                f"UPDATE {schema}.appointments SET version = version + 1, status = $2, "
                "starts_at = coalesce($3, starts_at), ends_at = coalesce($4, ends_at), "
                "updated_at = $5 WHERE appointment_id = $1 RETURNING *",
                current["appointment_id"], status, when.start if when else None,
                when.end if when else None, event.occurred_at,
            )  # fmt: skip
    except ConcurrencyConflict as exc:
        raise Conflict("the appointment was changed meanwhile; look again") from exc
    assert saved is not None
    return dict(saved)


async def _timed(provider: str, action: str, work: Any) -> Any:
    """Await a calendar read or write, counted as a write of `action` by its outcome."""
    started = time.perf_counter()
    try:
        result = await work
    except CalendarUnavailable:
        metrics.CALENDAR_WRITES.labels(provider, action, "failed").inc()
        raise
    finally:
        metrics.CALENDAR_READ_SECONDS.labels(provider).observe(time.perf_counter() - started)
    return result


async def get(
    db: Queryable, schema: str, appointment_id: UUID, tenant: UUID | None
) -> dict[str, Any] | None:
    """One appointment (None when unknown or another tenant's)."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.appointments WHERE appointment_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2)",
        appointment_id,
        tenant,
    )
    return dict(row) if row else None


async def for_call(
    db: Queryable, schema: str, call_id: UUID, tenant: UUID | None
) -> list[dict[str, Any]]:
    """The appointments booked or proposed from a call (NotFound: no such call of the tenant)."""
    await _call_client(db, schema, call_id, tenant)
    rows = await db.fetch(
        f"SELECT * FROM {schema}.appointments WHERE call_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2) ORDER BY created_at, appointment_id",
        call_id,
        tenant,
    )
    return [dict(row) for row in rows]


def written(provider: str, action: str) -> None:
    """Count a successful write."""
    metrics.CALENDAR_WRITES.labels(provider, action, "ok").inc()
