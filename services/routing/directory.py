"""Routing's own projection of intake: each client's language, office hours and book versions.

Fed by the intake topic (no synchronous calls to intake). Every book version is kept: an
escalation follows the version that was on the operator's screen when the call came in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeAlias
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter

from libs.events.catalogue import topic_for
from libs.events.intake import (
    ClientOffboarded,
    ClientRegistered,
    EscalationContact,
    OfficeHoursChanged,
    SecretaryBookRevised,
    UrgencyRule,
)
from libs.events.values import Language, OfficeHours
from libs.platform import api_keys
from libs.platform.consumer import Handler, Subscription, projecting
from libs.platform.db import Connection
from libs.platform.directory import client_offboarded, client_registered, office_hours_changed
from libs.platform.settings import Settings
from services.routing.domain.chain import Book

Queryable: TypeAlias = asyncpg.Pool | Connection
FALLBACK_LANGUAGE: Language = "nl"
"""The bureau's own language, for a client routing has not heard of yet."""
_RULES = TypeAdapter(tuple[UrgencyRule, ...])
_CONTACTS = TypeAdapter(tuple[EscalationContact, ...])


@dataclass(frozen=True)
class ClientFacts:
    """What routing knows of a client: name, language and office hours."""

    client_id: UUID
    name: str
    language: Language
    office_hours: OfficeHours


async def book_revised(event: SecretaryBookRevised, conn: Connection, schema: str) -> None:
    """Keep each book version's urgency rules and escalation contacts."""
    dump = event.model_dump(mode="json", include={"urgency_rules", "escalation_contacts"})
    await conn.execute(
        f"INSERT INTO {schema}.directory_books (client_id, book_version, urgency_rules, "
        "escalation_contacts, revised_at) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) "
        "ON CONFLICT (client_id, book_version) DO NOTHING",
        event.client_id, event.book_version, json.dumps(dump["urgency_rules"]),
        json.dumps(dump["escalation_contacts"]), event.occurred_at,
    )  # fmt: skip


HANDLERS: dict[str, Handler] = dict(
    [
        projecting(ClientRegistered, client_registered),
        projecting(OfficeHoursChanged, office_hours_changed),
        projecting(ClientOffboarded, client_offboarded),
        projecting(SecretaryBookRevised, book_revised),
    ]
)
"""The intake events routing keeps, by type; the others (numbers, plans) it ignores."""


def subscription(settings: Settings) -> Subscription:
    """The directory's subscription to the intake topic; it keeps the API keys as well."""
    return Subscription(
        name=f"{settings.topic_prefix}-routing-directory",
        topics=(topic_for("intake", settings.topic_prefix),),
        handlers={**HANDLERS, **api_keys.HANDLERS},
    )


async def client_facts(db: Queryable, schema: str, client_id: UUID) -> ClientFacts | None:
    """The client's name, language and office hours, or None while routing has not heard of it."""
    row = await db.fetchrow(
        f"SELECT name, language, office_hours FROM {schema}.directory_clients WHERE client_id = $1",
        client_id,
    )
    if row is None:
        return None
    hours = OfficeHours.model_validate_json(row["office_hours"])
    return ClientFacts(client_id, row["name"], row["language"], hours)


async def book(
    db: Queryable, schema: str, client_id: UUID, book_version: int | None = None
) -> Book | None:
    """One version of the client's book (default: the latest routing knows), or None."""
    row = await db.fetchrow(
        f"SELECT book_version, urgency_rules, escalation_contacts FROM {schema}.directory_books "
        "WHERE client_id = $1 AND ($2::int IS NULL OR book_version = $2) "
        "ORDER BY book_version DESC LIMIT 1",
        client_id,
        book_version,
    )
    if row is None:
        return None
    return Book(
        book_version=row["book_version"],
        urgency_rules=_RULES.validate_json(row["urgency_rules"]),
        escalation_contacts=_CONTACTS.validate_json(row["escalation_contacts"]),
    )
