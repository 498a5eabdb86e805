"""The calendar service's own projections of other services' topics.

From intake: each client's name, language, office hours and what its book says about calls
after hours. From routing: the roster (who speaks what, who is on duty). From calls: each
call's client, caller number and language, and whether the office was open. No synchronous
calls to any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias
from uuid import UUID

import asyncpg

from libs.events.calls import CallReceived
from libs.events.catalogue import topic_for
from libs.events.intake import (
    ClientOffboarded,
    ClientRegistered,
    OfficeHoursChanged,
    SecretaryBookRevised,
)
from libs.events.routing import OperatorDetailsChanged, OperatorPresenceChanged, OperatorRegistered
from libs.events.values import Language, OfficeHours
from libs.platform import api_keys
from libs.platform.consumer import Handler, Subscription, projecting
from libs.platform.db import Connection
from libs.platform.directory import (
    client_offboarded,
    client_registered,
    office_hours_changed,
    operator_registered,
    presence_changed,
)
from libs.platform.settings import Settings
from services.calendar.domain.callbacks import Operator

Queryable: TypeAlias = asyncpg.Pool | Connection


@dataclass(frozen=True)
class ClientFacts:
    """What the calendar service knows of a client."""

    client_id: UUID
    name: str
    language: Language
    office_hours: OfficeHours
    after_hours: str
    offboarded: bool


async def book_revised(event: SecretaryBookRevised, conn: Connection, schema: str) -> None:
    """The latest book's rule for calls after hours (an older version never overwrites it)."""
    await conn.execute(
        f"UPDATE {schema}.directory_clients SET after_hours = $2, book_version = $3, "
        "updated_at = $4 WHERE client_id = $1 AND book_version < $3",
        event.client_id, event.after_hours, event.book_version, event.occurred_at,
    )  # fmt: skip


async def call_received(event: CallReceived, conn: Connection, schema: str) -> None:
    """Whose call it is, who called, in what language, and whether the office was open."""
    await conn.execute(
        f"INSERT INTO {schema}.call_facts (call_id, client_id, caller_number, caller_language, "
        "office_open, received_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (call_id) DO NOTHING",
        event.call_id, event.client_id, event.caller_number, event.caller_language,
        event.office_open, event.received_at,
    )  # fmt: skip


INTAKE: dict[str, Handler] = dict(
    [
        projecting(ClientRegistered, client_registered),
        projecting(OfficeHoursChanged, office_hours_changed),
        projecting(ClientOffboarded, client_offboarded),
        projecting(SecretaryBookRevised, book_revised),
    ]
)
ROSTER: dict[str, Handler] = dict(
    [
        projecting(OperatorRegistered, operator_registered),
        projecting(OperatorDetailsChanged, operator_registered),
        projecting(OperatorPresenceChanged, presence_changed),
    ]
)


def subscriptions(settings: Settings) -> tuple[Subscription, ...]:
    """The projections of intake (with the API keys) and of routing's roster."""
    intake = Subscription(
        name=f"{settings.topic_prefix}-calendar-directory",
        topics=(topic_for("intake", settings.topic_prefix),),
        handlers={**INTAKE, **api_keys.HANDLERS},
    )
    roster = Subscription(
        name=f"{settings.topic_prefix}-calendar-roster",
        topics=(topic_for("routing", settings.topic_prefix),),
        handlers=ROSTER,
    )
    return intake, roster


async def client_facts(db: Queryable, schema: str, client_id: UUID) -> ClientFacts | None:
    """What is known of a client, or None while intake's events have not arrived."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.directory_clients WHERE client_id = $1", client_id
    )
    if row is None:
        return None
    return ClientFacts(
        client_id=row["client_id"],
        name=row["name"],
        language=row["language"],
        office_hours=OfficeHours.model_validate_json(row["office_hours"]),
        after_hours=row["after_hours"],
        offboarded=row["offboarded"],
    )


async def call_facts(db: Queryable, schema: str, call_id: UUID) -> asyncpg.Record | None:
    """The call as calls announced it, or None."""
    return await db.fetchrow(f"SELECT * FROM {schema}.call_facts WHERE call_id = $1", call_id)


async def roster(db: Queryable, schema: str) -> list[Operator]:
    """Every operator on the roster."""
    rows = await db.fetch(f"SELECT * FROM {schema}.roster ORDER BY operator_id")
    return [
        Operator(row["operator_id"], frozenset(row["languages"]), row["presence"]) for row in rows
    ]
