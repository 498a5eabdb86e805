"""Reading the intake read tables into read-model rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter

from libs.events import EmailHandling, Language, NotificationPreferences, OfficeHours, Plan
from services.intake.domain import BookRevision, PlanPeriod, Status
from services.intake.projections import StoredBook

_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)
_CLIENT_COLUMNS = (
    "c.client_id, c.name, c.contact_email, c.language, c.status, c.cold_calls_free, "
    "c.setup_fee_cents, c.notification, c.office_hours, c.book_version, c.registered_at, "
    "c.activated_at, c.offboarded_at, c.offboard_reason, "
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
    pool: asyncpg.Pool, schema: str, status: Status | None, limit: int, offset: int
) -> list[ClientRow]:
    """Clients by name, optionally only those in one status."""
    rows = await pool.fetch(
        f"SELECT {_CLIENT_COLUMNS.format(schema=schema)} FROM {schema}.clients c "
        "WHERE $1::text IS NULL OR c.status = $1 ORDER BY c.name, c.client_id LIMIT $2 OFFSET $3",
        status, limit, offset,
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


async def screen_pop(pool: asyncpg.Pool, schema: str, number: str) -> ScreenPopRow | None:
    """The number's client and current book, in one query; None if nobody holds it."""
    row = await pool.fetchrow(
        f"SELECT {_CLIENT_COLUMNS.format(schema=schema)}, b.revised_at, b.book "
        f"FROM {schema}.numbers h JOIN {schema}.clients c USING (client_id) "
        f"LEFT JOIN {schema}.book_versions b "
        "ON b.client_id = c.client_id AND b.book_version = c.book_version "
        "WHERE h.number = $1",
        number,
    )
    if row is None:
        return None
    found = _client(row)
    version = found.book_version
    book_row = None if version is None else _book(found.client_id, version, *_book_cols(row))
    return ScreenPopRow(number, found, book_row)


def _book_cols(row: asyncpg.Record) -> tuple[datetime, str]:
    return row["revised_at"], row["book"]
