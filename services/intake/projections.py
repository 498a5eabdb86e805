"""The intake read tables, kept up to date in the same transaction as each append."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.events import (
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    EscalationContact,
    Event,
    FaqEntry,
    NotificationPreferencesChanged,
    NumberAssigned,
    NumberReleased,
    OfficeHoursChanged,
    PlanChanged,
    SecretaryBookRevised,
    TemporaryInstruction,
    UrgencyRule,
)
from libs.events.intake import AfterHours
from libs.platform.db import Connection, Migration
from services.intake.domain import local_date

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "intake_0001_read_tables",
        """
        CREATE TABLE {schema}.clients (
            client_id uuid PRIMARY KEY,
            name text NOT NULL,
            contact_email text NOT NULL,
            language text NOT NULL,
            status text NOT NULL,
            cold_calls_free boolean NOT NULL,
            setup_fee_cents bigint NOT NULL,
            notification jsonb NOT NULL,
            office_hours jsonb NOT NULL,
            book_version integer,
            registered_at timestamptz NOT NULL,
            activated_at timestamptz,
            offboarded_at timestamptz,
            offboard_reason text,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.clients (status, name);
        CREATE TABLE {schema}.numbers (
            number text PRIMARY KEY,
            client_id uuid NOT NULL REFERENCES {schema}.clients,
            assigned_at timestamptz NOT NULL
        );
        CREATE INDEX ON {schema}.numbers (client_id);
        CREATE TABLE {schema}.book_versions (
            client_id uuid NOT NULL REFERENCES {schema}.clients,
            book_version integer NOT NULL,
            revised_at timestamptz NOT NULL,
            book jsonb NOT NULL,
            PRIMARY KEY (client_id, book_version)
        );
        CREATE TABLE {schema}.plan_periods (
            client_id uuid NOT NULL REFERENCES {schema}.clients,
            seq integer NOT NULL,
            plan jsonb NOT NULL,
            email_handling jsonb NOT NULL,
            effective_from date NOT NULL,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (client_id, seq)
        );
        """,
    ),
)
"""Read tables: clients, the numbers they hold now, every book version, every plan period."""

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
    """Apply the events to the read tables, in order, on the appending transaction."""
    for event in events:
        projector = PROJECTORS.get(type(event))
        if projector is not None:
            await projector(conn, schema, event)


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


async def _offboarded(conn: Connection, schema: str, event: ClientOffboarded) -> None:
    await _set_status(conn, schema, event, "offboarded")
    await conn.execute(
        f"UPDATE {schema}.clients SET offboard_reason = $2 WHERE client_id = $1",
        event.client_id, event.reason,
    )  # fmt: skip


async def _assigned(conn: Connection, schema: str, event: NumberAssigned) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.numbers (number, client_id, assigned_at) VALUES ($1, $2, $3)",
        event.number, event.client_id, event.occurred_at,
    )  # fmt: skip


async def _released(conn: Connection, schema: str, event: NumberReleased) -> None:
    await conn.execute(
        f"DELETE FROM {schema}.numbers WHERE number = $1 AND client_id = $2",
        event.number, event.client_id,
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


PROJECTORS: dict[type[Event], Projector] = {
    ClientRegistered: _registered,
    ClientActivated: _activated,
    ClientOffboarded: _offboarded,
    NumberAssigned: _assigned,
    NumberReleased: _released,
    SecretaryBookRevised: _book_revised,
    PlanChanged: _plan_changed,
    NotificationPreferencesChanged: _notification,
    OfficeHoursChanged: _office_hours,
}
"""The read-table update for each intake event type."""
