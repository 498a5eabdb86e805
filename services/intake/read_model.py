"""The intake read tables: written in the same transaction as each append, read by the API.

Projectors (one per event type, in PROJECTORS) keep the tables; the queries below read them
into read-model rows.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, TypeAdapter

from libs.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    EmailHandling,
    EscalationContact,
    Event,
    FaqEntry,
    Language,
    NotificationPreferences,
    NotificationPreferencesChanged,
    NumberAssigned,
    NumberReleased,
    OfficeHours,
    OfficeHoursChanged,
    Plan,
    PlanChanged,
    SecretaryBookRevised,
    TemporaryInstruction,
    UrgencyRule,
)
from libs.events.intake import (
    AfterHours,
    ApiKeyRole,
    IntakeFormReceived,
    NumberAddedToPool,
    OffboardingCancelled,
    OffboardingScheduled,
)
from libs.platform import api_keys
from libs.platform.db import Connection
from services.intake import read_onboarding
from services.intake.domain.state import BookRevision, PlanPeriod, Status, local_date

Projector = Callable[[Connection, str, Any], Awaitable[None]]


class StoredBook(BaseModel):
    """The content of one book version as the `book_versions.book` column holds it."""

    model_config = ConfigDict(frozen=True)

    greeting: str
    instructions: str
    faq: tuple[FaqEntry, ...]
    urgency_rules: tuple[UrgencyRule, ...]
    escalation_contacts: tuple[EscalationContact, ...]
    temporary_instructions: tuple[TemporaryInstruction, ...]
    after_hours: AfterHours
    calendar_url: str | None


async def project(conn: Connection, schema: str, events: Sequence[Event]) -> None:
    """Apply the events to the read tables, in order, on the appending transaction.

    The screen pops every replica keeps (services/intake/screen_pops.py) are told at commit.
    """
    changed = False
    for event in events:
        projector = PROJECTORS.get(type(event))
        if projector is not None:
            await projector(conn, schema, event)
            changed = True
    if changed:
        await conn.execute("SELECT pg_notify($1, '')", screen_pop_channel(schema))


def screen_pop_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel told of every committed change to intake's read tables."""
    return f"{schema}_screen"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def _registered(conn: Connection, schema: str, event: ClientRegistered) -> None:
    data = event.model_dump(mode="json")
    await conn.execute(
        f"INSERT INTO {schema}.clients (client_id, name, contact_email, language, status, "
        "cold_calls_free, setup_fee_cents, notification, office_hours, registered_at, updated_at) "
        "VALUES ($1, $2, $3, $4, 'registered', $5, $6, $7, $8, $9, $9)",
        event.client_id, event.name, event.contact_email, event.language, event.cold_calls_free,
        event.setup_fee_cents, _json(data["notification"]), _json(data["office_hours"]),
        event.occurred_at,
    )  # fmt: skip
    await _add_plan_period(conn, schema, event, local_date(event.occurred_at))


async def _plan_changed(conn: Connection, schema: str, event: PlanChanged) -> None:
    await _add_plan_period(conn, schema, event, event.effective_from)


async def _add_plan_period(
    conn: Connection, schema: str, event: ClientRegistered | PlanChanged, effective_from: date
) -> None:
    data = event.model_dump(mode="json")
    await conn.execute(
        f"INSERT INTO {schema}.plan_periods (client_id, seq, plan, email_handling, "
        "effective_from, recorded_at) SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5 "
        f"FROM {schema}.plan_periods WHERE client_id = $1",
        event.client_id, _json(data["plan"]), _json(data["email_handling"]),
        effective_from, event.occurred_at,
    )  # fmt: skip


async def _set_status(conn: Connection, schema: str, event: Event, status: str) -> None:
    column = {"active": "activated_at", "offboarded": "offboarded_at"}[status]
    await conn.execute(
        f"UPDATE {schema}.clients SET status = $2, {column} = $3, updated_at = $3 "
        "WHERE client_id = $1",
        event.client_id, status, event.occurred_at,
    )  # fmt: skip


async def _activated(conn: Connection, schema: str, event: ClientActivated) -> None:
    await _set_status(conn, schema, event, "active")
    await read_onboarding.wait_ended(conn, schema, event)


async def _offboarding_scheduled(
    conn: Connection, schema: str, event: OffboardingScheduled
) -> None:
    await conn.execute(
        f"UPDATE {schema}.clients SET offboard_at = $2, offboard_reason = $3, updated_at = $4 "
        "WHERE client_id = $1",
        event.client_id, event.effective_at, event.reason, event.occurred_at,
    )  # fmt: skip


async def _offboarding_cancelled(
    conn: Connection, schema: str, event: OffboardingCancelled
) -> None:
    await conn.execute(
        f"UPDATE {schema}.clients SET offboard_at = NULL, offboard_reason = NULL, "
        "updated_at = $2 WHERE client_id = $1",
        event.client_id, event.occurred_at,
    )  # fmt: skip


async def _offboarded(conn: Connection, schema: str, event: ClientOffboarded) -> None:
    await _set_status(conn, schema, event, "offboarded")
    await read_onboarding.wait_ended(conn, schema, event)
    await conn.execute(
        f"UPDATE {schema}.clients SET offboard_reason = $2, offboard_at = NULL "
        "WHERE client_id = $1",
        event.client_id, event.reason,
    )  # fmt: skip


async def _assigned(conn: Connection, schema: str, event: NumberAssigned) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.numbers (number, client_id, assigned_at) VALUES ($1, $2, $3)",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip
    await conn.execute(
        f"UPDATE {schema}.number_pool SET client_id = $2, reserved_at = $3 WHERE number = $1",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip


async def _released(conn: Connection, schema: str, event: NumberReleased) -> None:
    await conn.execute(
        f"DELETE FROM {schema}.numbers WHERE number = $1 AND client_id = $2",
        event.number, event.client_id,
    )  # fmt: skip
    # back to the pool, to rest there (a number given out before the pool existed joins it)
    await conn.execute(
        f"INSERT INTO {schema}.number_pool (number, added_at, released_at, quarantine_until) "
        "VALUES ($1, $2, $2, $3) ON CONFLICT (number) DO UPDATE SET client_id = NULL, "
        "reserved_at = NULL, released_at = $2, quarantine_until = $3",
        event.number, event.occurred_at, event.quarantine_until,
    )  # fmt: skip


async def _book_revised(conn: Connection, schema: str, event: SecretaryBookRevised) -> None:
    book = event.model_dump(mode="json", include=set(StoredBook.model_fields))
    await conn.execute(
        f"INSERT INTO {schema}.book_versions (client_id, book_version, revised_at, book) "
        "VALUES ($1, $2, $3, $4)",
        event.client_id, event.book_version, event.occurred_at, _json(book),
    )  # fmt: skip
    await conn.execute(
        f"UPDATE {schema}.clients SET book_version = $2, updated_at = $3 WHERE client_id = $1",
        event.client_id, event.book_version, event.occurred_at,
    )  # fmt: skip


async def _replace_setting(conn: Connection, schema: str, event: Event, column: str) -> None:
    value = event.model_dump(mode="json")[column]
    await conn.execute(
        f"UPDATE {schema}.clients SET {column} = $2, updated_at = $3 WHERE client_id = $1",
        event.client_id, _json(value), event.occurred_at,
    )  # fmt: skip


async def _notification(
    conn: Connection, schema: str, event: NotificationPreferencesChanged
) -> None:
    await _replace_setting(conn, schema, event, "notification")


async def _office_hours(conn: Connection, schema: str, event: OfficeHoursChanged) -> None:
    await _replace_setting(conn, schema, event, "office_hours")


async def _key_issued(conn: Connection, schema: str, event: ApiKeyIssued) -> None:
    # the platform's own table, which every service's key check reads: intake accepts the
    # key as soon as this transaction commits
    await api_keys.issued(event, conn, schema)


async def _key_revoked(conn: Connection, schema: str, event: ApiKeyRevoked) -> None:
    await api_keys.revoked(event, conn, schema)


PROJECTORS: dict[type[Event], Projector] = {
    ClientRegistered: _registered,
    ClientActivated: _activated,
    ClientOffboarded: _offboarded,
    NumberAssigned: _assigned,
    NumberReleased: _released,
    NumberAddedToPool: read_onboarding.added_to_pool,
    IntakeFormReceived: read_onboarding.form_received,
    OffboardingScheduled: _offboarding_scheduled,
    OffboardingCancelled: _offboarding_cancelled,
    SecretaryBookRevised: _book_revised,
    PlanChanged: _plan_changed,
    NotificationPreferencesChanged: _notification,
    OfficeHoursChanged: _office_hours,
    ApiKeyIssued: _key_issued,
    ApiKeyRevoked: _key_revoked,
}
"""The read-table update for each intake event type."""


_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)
_CLIENT_COLUMNS = (
    "c.client_id, c.name, c.contact_email, c.language, c.status, c.cold_calls_free, "
    "c.setup_fee_cents, c.notification, c.office_hours, c.book_version, c.registered_at, "
    "c.activated_at, c.offboarded_at, c.offboard_reason, c.offboard_at, "
    "array(SELECT n.number FROM {schema}.numbers n WHERE n.client_id = c.client_id "
    "ORDER BY n.number) AS numbers"
)


@dataclass(frozen=True)
class ClientRow:
    """A client as the read tables hold it."""

    client_id: UUID
    name: str
    contact_email: str
    language: Language
    status: Status
    cold_calls_free: bool
    setup_fee_cents: int
    notification: NotificationPreferences
    office_hours: OfficeHours
    book_version: int | None
    registered_at: datetime
    activated_at: datetime | None
    offboarded_at: datetime | None
    offboard_reason: str | None
    offboard_at: datetime | None
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class BookRow:
    """One version of a client's secretary book."""

    client_id: UUID
    book_version: int
    revised_at: datetime
    content: StoredBook


@dataclass(frozen=True)
class ScreenPopRow:
    """A held number, its client and the client's current book."""

    number: str
    client: ClientRow
    book: BookRow | None


def _client(row: asyncpg.Record) -> ClientRow:
    return ClientRow(
        **{k: row[k] for k in ClientRow.__dataclass_fields__ if k not in _PARSED},
        notification=NotificationPreferences.model_validate_json(row["notification"]),
        office_hours=OfficeHours.model_validate_json(row["office_hours"]),
        numbers=tuple(row["numbers"]),
    )


_PARSED = {"notification", "office_hours", "numbers"}


def _book(client_id: UUID, version: int, revised_at: datetime, raw: str) -> BookRow:
    return BookRow(client_id, version, revised_at, StoredBook.model_validate_json(raw))


async def client(pool: asyncpg.Pool, schema: str, client_id: UUID) -> ClientRow | None:
    """The client, or None if no such client was registered."""
    row = await pool.fetchrow(
        f"SELECT {_CLIENT_COLUMNS.format(schema=schema)} FROM {schema}.clients c "
        "WHERE c.client_id = $1",
        client_id,
    )
    return None if row is None else _client(row)


async def clients(
    pool: asyncpg.Pool,
    schema: str,
    status: Status | None,
    limit: int,
    offset: int,
    tenant: UUID | None,
) -> list[ClientRow]:
    """Clients by name, optionally only those in one status; only `tenant` unless None (all)."""
    rows = await pool.fetch(
        f"SELECT {_CLIENT_COLUMNS.format(schema=schema)} FROM {schema}.clients c "
        "WHERE ($1::text IS NULL OR c.status = $1) AND ($4::uuid IS NULL OR c.client_id = $4) "
        "ORDER BY c.name, c.client_id LIMIT $2 OFFSET $3",
        status, limit, offset, tenant,
    )  # fmt: skip
    return [_client(row) for row in rows]


async def book_revisions(pool: asyncpg.Pool, schema: str, client_id: UUID) -> list[BookRevision]:
    """Every book version of the client and when it was written, in order."""
    rows = await pool.fetch(
        f"SELECT book_version, revised_at FROM {schema}.book_versions WHERE client_id = $1 "
        "ORDER BY book_version",
        client_id,
    )
    return [BookRevision(r["book_version"], r["revised_at"]) for r in rows]


async def book(pool: asyncpg.Pool, schema: str, client_id: UUID, version: int) -> BookRow | None:
    """One version of the client's book."""
    row = await pool.fetchrow(
        f"SELECT revised_at, book FROM {schema}.book_versions "
        "WHERE client_id = $1 AND book_version = $2",
        client_id, version,
    )  # fmt: skip
    return None if row is None else _book(client_id, version, row["revised_at"], row["book"])


async def plan_periods(pool: asyncpg.Pool, schema: str, client_id: UUID) -> list[PlanPeriod]:
    """The client's plan history, in the order it was recorded."""
    rows = await pool.fetch(
        f"SELECT plan, email_handling, effective_from, recorded_at FROM {schema}.plan_periods "
        "WHERE client_id = $1 ORDER BY seq",
        client_id,
    )
    return [
        PlanPeriod(
            _PLAN.validate_json(r["plan"]),
            EmailHandling.model_validate_json(r["email_handling"]),
            r["effective_from"],
            r["recorded_at"],
        )
        for r in rows
    ]


async def screen_pop(
    pool: asyncpg.Pool, schema: str, number: str, tenant: UUID | None
) -> ScreenPopRow | None:
    """The number's client and current book in one query; None unless `tenant` (if any) holds it."""
    row = await pool.fetchrow(
        f"SELECT {_CLIENT_COLUMNS.format(schema=schema)}, b.revised_at, b.book "
        f"FROM {schema}.numbers h JOIN {schema}.clients c USING (client_id) "
        f"LEFT JOIN {schema}.book_versions b "
        "ON b.client_id = c.client_id AND b.book_version = c.book_version "
        "WHERE h.number = $1 AND ($2::uuid IS NULL OR c.client_id = $2)",
        number, tenant,
    )  # fmt: skip
    if row is None:
        return None
    found = _client(row)
    version = found.book_version
    book_row = None if version is None else _book(found.client_id, version, *_book_cols(row))
    return ScreenPopRow(number, found, book_row)


def _book_cols(row: asyncpg.Record) -> tuple[datetime, str]:
    return row["revised_at"], row["book"]


@dataclass(frozen=True)
class ApiKeyRow:
    """An issued API key without its secret's digest: nothing here opens a door."""

    key_id: UUID
    client_id: UUID
    role: ApiKeyRole
    name: str
    issued_at: datetime
    revoked_at: datetime | None


_KEY_COLUMNS = "key_id, client_id, role, name, issued_at, revoked_at"


async def api_key(pool: asyncpg.Pool, schema: str, key_id: UUID) -> ApiKeyRow | None:
    """One issued key, or None if no such key was issued."""
    row = await pool.fetchrow(
        f"SELECT {_KEY_COLUMNS} FROM {schema}.api_keys WHERE key_id = $1", key_id
    )
    return None if row is None else ApiKeyRow(**dict(row))


async def api_key_list(pool: asyncpg.Pool, schema: str, client_id: UUID | None) -> list[ApiKeyRow]:
    """The issued keys, of one client or of all, oldest first."""
    rows = await pool.fetch(
        f"SELECT {_KEY_COLUMNS} FROM {schema}.api_keys "
        "WHERE $1::uuid IS NULL OR client_id = $1 ORDER BY issued_at, key_id",
        client_id,
    )
    return [ApiKeyRow(**dict(row)) for row in rows]


async def offboardings_due(pool: asyncpg.Pool, schema: str, now: datetime) -> list[ClientRow]:
    """Clients whose chosen moment of leaving has come and who have not left yet."""
    rows = await pool.fetch(
        f"SELECT {_CLIENT_COLUMNS.format(schema=schema)} FROM {schema}.clients c "
        "WHERE c.offboard_at <= $1 AND c.status <> 'offboarded' ORDER BY c.offboard_at",
        now,
    )
    return [_client(row) for row in rows]
