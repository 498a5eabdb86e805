"""The inbox service's own projections: each client's name, language and office hours (from
intake, with the API keys) and the roster (from routing). No synchronous calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias
from uuid import UUID

import asyncpg

from libs.events.catalogue import topic_for
from libs.events.intake import ClientOffboarded, ClientRegistered, OfficeHoursChanged
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

Queryable: TypeAlias = asyncpg.Pool | Connection


@dataclass(frozen=True)
class ClientFacts:
    """What the inbox knows of a client."""

    client_id: UUID
    name: str
    language: Language
    office_hours: OfficeHours
    offboarded: bool


INTAKE: dict[str, Handler] = dict(
    [
        projecting(ClientRegistered, client_registered),
        projecting(OfficeHoursChanged, office_hours_changed),
        projecting(ClientOffboarded, client_offboarded),
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
    prefix = settings.topic_prefix
    return (
        Subscription(
            name=f"{prefix}-inbox-directory",
            topics=(topic_for("intake", prefix),),
            handlers={**INTAKE, **api_keys.HANDLERS},
        ),
        Subscription(
            name=f"{prefix}-inbox-roster", topics=(topic_for("routing", prefix),), handlers=ROSTER
        ),
    )


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
        offboarded=row["offboarded"],
    )


async def readers_on_duty(db: Queryable, schema: str, language: str) -> list[str]:
    """The operators on duty who read a language, least loaded with open conversations first."""
    rows = await db.fetch(
        f"SELECT r.operator_id, count(c.conversation_id) AS load FROM {schema}.roster r "
        f"LEFT JOIN {schema}.conversations c ON c.assigned_to = r.operator_id "
        "AND c.status = 'open' WHERE $1 = ANY(r.languages) AND r.presence <> 'offline' "
        "GROUP BY r.operator_id ORDER BY load, r.operator_id",
        language,
    )
    return [row["operator_id"] for row in rows]
