"""What calls keeps of intake's facts: who holds which number, their book versions and hours.

Written by the reactions to the intake topic (services/calls/reactions.py; no synchronous
calls to intake). Kafka keys by client, so one client's events arrive in order; a number
moving between clients is resolved by the time of each assignment, whichever order the two
clients' events arrive in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from libs.events.envelope import Event
from libs.events.intake import (
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    NumberAssigned,
    NumberReleased,
    SecretaryBookRevised,
)
from libs.events.values import Language, OfficeHours
from libs.platform.db import Connection
from services.calls.domain.commands import ClientStatus, Line
from services.calls.read_model import Queryable


async def client_registered(event: ClientRegistered, conn: Connection, schema: str) -> None:
    """A new client: name, language, cold-call terms and office hours."""
    await conn.execute(
        f"INSERT INTO {schema}.directory_clients (client_id, name, language, cold_calls_free, "
        "status, office_hours, updated_at) VALUES ($1, $2, $3, $4, 'registered', $5::jsonb, $6) "
        "ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, "
        "language = EXCLUDED.language, cold_calls_free = EXCLUDED.cold_calls_free, "
        "office_hours = EXCLUDED.office_hours, updated_at = EXCLUDED.updated_at",
        event.client_id, event.name, event.language, event.cold_calls_free,
        event.office_hours.model_dump_json(), event.occurred_at,
    )  # fmt: skip


async def client_activated(event: ClientActivated, conn: Connection, schema: str) -> None:
    """The client's intake is complete."""
    await _set_status(conn, schema, event, "active")


async def client_offboarded(event: ClientOffboarded, conn: Connection, schema: str) -> None:
    """The client left: its numbers no longer lead to it."""
    await _set_status(conn, schema, event, "offboarded")


async def _set_status(conn: Connection, schema: str, event: Event, status: ClientStatus) -> None:
    await conn.execute(
        f"UPDATE {schema}.directory_clients SET status = $2, updated_at = $3 "
        "WHERE client_id = $1 AND status <> 'offboarded'",
        event.client_id, status, event.occurred_at,
    )  # fmt: skip


async def number_assigned(event: NumberAssigned, conn: Connection, schema: str) -> None:
    """The number leads to the client, unless a later assignment was seen already.

    Every assignment is also kept in the number's history: a call is put to whoever held the
    number when it was received.
    """
    await conn.execute(
        f"INSERT INTO {schema}.directory_numbers AS n (number, client_id, assigned_at) "
        "VALUES ($1, $2, $3) ON CONFLICT (number) DO UPDATE SET client_id = EXCLUDED.client_id, "
        "assigned_at = EXCLUDED.assigned_at WHERE n.assigned_at <= EXCLUDED.assigned_at",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip
    await conn.execute(
        f"INSERT INTO {schema}.directory_number_assignments (number, client_id, assigned_at) "
        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip


async def number_released(event: NumberReleased, conn: Connection, schema: str) -> None:
    """The number no longer leads to the client (a later holder keeps it); its history ends."""
    await conn.execute(
        f"DELETE FROM {schema}.directory_numbers "
        "WHERE number = $1 AND client_id = $2 AND assigned_at <= $3",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip
    await conn.execute(
        f"UPDATE {schema}.directory_number_assignments SET released_at = $3 "
        "WHERE number = $1 AND client_id = $2 AND assigned_at <= $3 AND released_at IS NULL",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip


async def book_revised(event: SecretaryBookRevised, conn: Connection, schema: str) -> None:
    """Keep every book version: a call records the one that was on screen."""
    dump = event.model_dump(mode="json")
    await conn.execute(
        f"INSERT INTO {schema}.directory_books (client_id, book_version, greeting, "
        "instructions, faq, urgency_rules, temporary_instructions, after_hours, calendar_url, "
        "revised_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9, $10) "
        "ON CONFLICT (client_id, book_version) DO NOTHING",
        event.client_id, event.book_version, event.greeting, event.instructions,
        json.dumps(dump["faq"]), json.dumps(dump["urgency_rules"]),
        json.dumps(dump["temporary_instructions"]), event.after_hours, event.calendar_url,
        event.occurred_at,
    )  # fmt: skip


async def shown_name(db: Queryable, schema: str, client_id: UUID) -> str | None:
    """The client's name while it has not left (None once it has, or if unknown)."""
    name: str | None = await db.fetchval(
        f"SELECT name FROM {schema}.directory_clients "
        "WHERE client_id = $1 AND status <> 'offboarded'",
        client_id,
    )
    return name


async def shown_clients(db: Queryable, schema: str) -> list[tuple[UUID, str]]:
    """Every client that has not left, with its name."""
    rows = await db.fetch(
        f"SELECT client_id, name FROM {schema}.directory_clients WHERE status <> 'offboarded'"
    )
    return [(row["client_id"], row["name"]) for row in rows]


@dataclass(frozen=True)
class ClientCard:
    """What the screen pop shows of a client and one version of its book."""

    client_id: UUID
    name: str
    language: Language
    cold_calls_free: bool
    office_hours: OfficeHours
    book: dict[str, Any] | None


async def line_for(db: Queryable, schema: str, number: str, client_id: UUID | None) -> Line | None:
    """The client holding a number, with its current book version, or None.

    With `client_id`, None unless that client holds it (the caller's tenant: another
    client's number is as unknown as a number nobody holds).
    """
    row = await db.fetchrow(
        f"SELECT c.client_id, c.status, c.office_hours, (SELECT max(b.book_version) "
        f"FROM {schema}.directory_books b WHERE b.client_id = c.client_id) AS book_version "
        f"FROM {schema}.directory_numbers n JOIN {schema}.directory_clients c USING (client_id) "
        "WHERE n.number = $1 AND ($2::uuid IS NULL OR n.client_id = $2)",
        number,
        client_id,
    )
    if row is None:
        return None
    hours = OfficeHours.model_validate_json(row["office_hours"])
    return Line(row["client_id"], row["status"], row["book_version"], hours)


async def line_at(db: Queryable, schema: str, number: str, at: datetime) -> Line | None:
    """The client that held a number at an instant, else its current holder, or None.

    The line's `held_since` says when that client's assignment began, so the domain can refuse
    a call received before it.
    """
    holder = await holder_at(db, schema, number, at)
    if holder is None:
        current = await db.fetchrow(
            f"SELECT client_id, assigned_at FROM {schema}.directory_numbers WHERE number = $1",
            number,
        )
        holder = (current["client_id"], current["assigned_at"]) if current else None
    if holder is None:
        return None
    return await _client_line(db, schema, *holder)


async def holder_at(
    db: Queryable, schema: str, number: str, at: datetime
) -> tuple[UUID, datetime] | None:
    """(client, assigned at) of the assignment in force at an instant, or None.

    That is the latest assignment made by then, unless it was released by then: a later
    assignment ends an earlier one, whichever order the two clients' events arrived in.
    """
    row = await db.fetchrow(
        f"SELECT client_id, assigned_at, released_at FROM {schema}.directory_number_assignments "
        "WHERE number = $1 AND assigned_at <= $2 ORDER BY assigned_at DESC, client_id LIMIT 1",
        number, at,
    )  # fmt: skip
    if row is None or (row["released_at"] is not None and row["released_at"] <= at):
        return None
    return row["client_id"], row["assigned_at"]


async def _client_line(
    db: Queryable, schema: str, client_id: UUID, held_since: datetime
) -> Line | None:
    row = await db.fetchrow(
        f"SELECT c.status, c.office_hours, (SELECT max(b.book_version) "
        f"FROM {schema}.directory_books b WHERE b.client_id = c.client_id) AS book_version "
        f"FROM {schema}.directory_clients c WHERE c.client_id = $1",
        client_id,
    )
    if row is None:
        return None
    hours = OfficeHours.model_validate_json(row["office_hours"])
    return Line(client_id, row["status"], row["book_version"], hours, held_since)


async def urgency_kinds(
    conn: Connection, schema: str, client_id: UUID, book_version: int | None
) -> frozenset[str]:
    """The urgency rule kinds of one book version (none without a book)."""
    rules = await conn.fetchval(
        f"SELECT urgency_rules FROM {schema}.directory_books "
        "WHERE client_id = $1 AND book_version = $2",
        client_id,
        book_version,
    )
    return frozenset(rule["kind"] for rule in json.loads(rules)) if rules else frozenset()


async def cold_calls_free(conn: Connection, schema: str, client_id: UUID) -> bool:
    """Whether the client agreed that cold calls are not billed."""
    return bool(
        await conn.fetchval(
            f"SELECT cold_calls_free FROM {schema}.directory_clients WHERE client_id = $1",
            client_id,
        )
    )


async def client_card(
    db: Queryable, schema: str, client_id: UUID, book_version: int | None
) -> ClientCard | None:
    """The client and the given version of its book, as the screen pop shows them."""
    row = await db.fetchrow(
        f"SELECT name, language, cold_calls_free, office_hours FROM {schema}.directory_clients "
        "WHERE client_id = $1",
        client_id,
    )
    if row is None:
        return None
    book = await db.fetchrow(
        f"SELECT * FROM {schema}.directory_books WHERE client_id = $1 AND book_version = $2",
        client_id,
        book_version,
    )
    return ClientCard(
        client_id=client_id,
        name=row["name"],
        language=row["language"],
        cold_calls_free=row["cold_calls_free"],
        office_hours=OfficeHours.model_validate_json(row["office_hours"]),
        book=_book(book) if book is not None else None,
    )


def _book(row: Any) -> dict[str, Any]:
    book = dict(row)
    for key in ("faq", "urgency_rules", "temporary_instructions"):
        book[key] = json.loads(book[key])
    return book
