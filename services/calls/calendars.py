"""What calls keeps of the calendar service's facts: each client's linked calendar, last read.

Written by the reactions to the calendar topic (services/calls/reactions.py; no synchronous
calls to the calendar service), read by the screen pop. One row per client in
`client_calendars`; unlinking keeps the row, cleared, so that no older event brings it back.

Kafka keys by client, so one client's events arrive in order, and the consumer's inbox drops
a second delivery; each step is still idempotent and ordered by its own times:
- a link, a permission change or an unlink applies only if it is not older than the last one
  applied (`changed_at`);
- a reading replaces the last one only if it was read later (`read_at`), and only while the
  calendar is linked; a reading made before the current link was of the previous one;
- an unreachable calendar counts from `since` unless a later reading says it was read since,
  and a reading made after `since` ends it.
Titles are kept only while the client lets operators see them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from libs.availability import Interval
from libs.events.calendar import (
    CalendarLinked,
    CalendarObserved,
    CalendarPermissionChanged,
    CalendarUnlinked,
    CalendarUnreachable,
)
from libs.platform.db import Connection
from services.calls.domain.calendar import BusyTime, LinkedCalendar, Observation
from services.calls.read_model import Queryable

_UNTITLED = (
    "(SELECT coalesce(jsonb_agg(span || jsonb_build_object('title', '') ORDER BY n), '[]') "
    "FROM jsonb_array_elements({}) WITH ORDINALITY AS spans (span, n))"
)
"""SQL: a jsonb array of busy spans with their titles blanked."""
_FORGOTTEN = "read_at = NULL, window_start = NULL, window_end = NULL, busy = '[]'"
"""SQL: no reading known."""


async def calendar_linked(event: CalendarLinked, conn: Connection, schema: str) -> None:
    """The client linked a calendar (anew: a reading of the previous one is forgotten)."""
    applied = await conn.fetchval(
        f"INSERT INTO {schema}.client_calendars AS c (client_id, linked, provider, permission, "
        "show_titles, linked_at, changed_at, updated_at) VALUES ($1, true, $2, $3, $4, $5, $5, $5) "
        "ON CONFLICT (client_id) DO UPDATE SET linked = true, provider = EXCLUDED.provider, "
        "permission = EXCLUDED.permission, show_titles = EXCLUDED.show_titles, "
        "linked_at = EXCLUDED.linked_at, changed_at = EXCLUDED.changed_at, "
        "updated_at = greatest(c.updated_at, EXCLUDED.updated_at) "
        "WHERE c.changed_at <= EXCLUDED.changed_at RETURNING true",
        event.client_id, event.provider, event.permission, event.show_titles, event.occurred_at,
    )  # fmt: skip
    if applied:
        await conn.execute(
            f"UPDATE {schema}.client_calendars SET {_FORGOTTEN} "
            "WHERE client_id = $1 AND read_at < $2",
            event.client_id, event.occurred_at,
        )  # fmt: skip
        await conn.execute(
            f"UPDATE {schema}.client_calendars SET unreachable_since = NULL "
            "WHERE client_id = $1 AND unreachable_since < $2",
            event.client_id, event.occurred_at,
        )  # fmt: skip


async def permission_changed(
    event: CalendarPermissionChanged, conn: Connection, schema: str
) -> None:
    """What the bureau may do with the calendar, and whether operators see titles, changed."""
    await conn.execute(
        f"UPDATE {schema}.client_calendars SET permission = $2, show_titles = $3, "
        f"busy = CASE WHEN $3 THEN busy ELSE {_UNTITLED.format('busy')} END, "
        "changed_at = $4, updated_at = greatest(updated_at, $4) "
        "WHERE client_id = $1 AND linked AND changed_at <= $4",
        event.client_id, event.permission, event.show_titles, event.occurred_at,
    )  # fmt: skip


async def calendar_unlinked(event: CalendarUnlinked, conn: Connection, schema: str) -> None:
    """The calendar is no longer linked: nothing of it is kept but when that happened."""
    await conn.execute(
        f"INSERT INTO {schema}.client_calendars AS c (client_id, linked, changed_at, updated_at) "
        "VALUES ($1, false, $2, $2) ON CONFLICT (client_id) DO UPDATE SET linked = false, "
        "provider = NULL, permission = NULL, show_titles = false, linked_at = NULL, "
        f"unreachable_since = NULL, {_FORGOTTEN}, changed_at = EXCLUDED.changed_at, "
        "updated_at = greatest(c.updated_at, EXCLUDED.updated_at) "
        "WHERE c.changed_at <= EXCLUDED.changed_at",
        event.client_id, event.occurred_at,
    )  # fmt: skip


async def calendar_observed(event: CalendarObserved, conn: Connection, schema: str) -> None:
    """A reading of the calendar: it replaces an earlier one and ends an unreachable spell."""
    busy = json.dumps([span.model_dump(mode="json") for span in event.busy])
    await conn.execute(
        f"UPDATE {schema}.client_calendars SET read_at = $2, window_start = $3, "
        "window_end = $4, "
        f"busy = CASE WHEN show_titles THEN $5::jsonb ELSE {_UNTITLED.format('$5::jsonb')} END, "
        "unreachable_since = CASE WHEN unreachable_since <= $2 THEN NULL "
        "ELSE unreachable_since END, updated_at = greatest(updated_at, $6) "
        "WHERE client_id = $1 AND linked AND linked_at <= $2 AND (read_at IS NULL OR read_at < $2)",
        event.client_id, event.read_at, event.window_start, event.window_end, busy,
        event.occurred_at,
    )  # fmt: skip


async def calendar_unreachable(event: CalendarUnreachable, conn: Connection, schema: str) -> None:
    """The calendar cannot be read since an instant (the earliest such instant is kept)."""
    await conn.execute(
        f"UPDATE {schema}.client_calendars SET "
        "unreachable_since = least(unreachable_since, $2), updated_at = greatest(updated_at, $3) "
        "WHERE client_id = $1 AND linked AND (read_at IS NULL OR read_at < $2)",
        event.client_id, event.since, event.occurred_at,
    )  # fmt: skip


async def linked_calendar(db: Queryable, schema: str, client_id: UUID) -> LinkedCalendar | None:
    """The client's linked calendar with its last reading, or None while none is linked."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.client_calendars WHERE client_id = $1 AND linked", client_id
    )
    if row is None:
        return None
    return LinkedCalendar(
        provider=row["provider"],
        permission=row["permission"],
        show_titles=row["show_titles"],
        observation=_observation(row),
        unreachable_since=row["unreachable_since"],
    )


def _observation(row: Any) -> Observation | None:
    if row["read_at"] is None:
        return None
    window = Interval(row["window_start"], row["window_end"])
    busy = tuple(_busy_time(span) for span in json.loads(row["busy"]))
    return Observation(read_at=row["read_at"], window=window, busy=busy)


def _busy_time(span: dict[str, Any]) -> BusyTime:
    start, end = datetime.fromisoformat(span["start"]), datetime.fromisoformat(span["end"])
    return BusyTime(start=start, end=end, title=span.get("title", ""))
