"""What billing keeps of the facts it folds: every event with its log position, and the clients.

Consumed events are recorded with the (topic, partition, offset) they were read at. Billing's
own events are recorded when appended (position unknown yet) and again, with their position,
when they come back from the billing topic; a history rebuilt from the topics alone ends up
with the same documents, counters and payments. The clients table is billing's copy of what
intake told it: names, languages and e-mail addresses for documents, and who has a punch card.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from libs.events.billing import LogPosition
from libs.events.catalogue import decode, encode
from libs.events.envelope import Event
from libs.events.intake import BillingDetailsChanged, ClientRegistered, PlanChanged
from libs.events.values import PunchCardPlan
from libs.platform.db import Connection
from services.billing import read_model
from services.billing.domain.ledger import ClientFacts, client_facts
from services.billing.read_model import Queryable

Position = tuple[str, int, int]


HISTORY_INSERT = (
    "INSERT INTO {schema}.history (event_id, client_id, event_type, occurred_at, topic, "
    'partition, "offset", payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) '
    "ON CONFLICT (event_id) DO UPDATE SET topic = EXCLUDED.topic, "
    'partition = EXCLUDED.partition, "offset" = EXCLUDED."offset" '
    "WHERE history.topic IS NULL AND EXCLUDED.topic IS NOT NULL"
)
"""Keep an event with where it was read (a known event only gains its position)."""


def _history_row(event: Event, position: Position | None) -> tuple[Any, ...]:
    topic, partition, offset = position or (None, None, None)
    return (event.event_id, event.client_id, event.type, event.occurred_at, topic, partition,
            offset, encode(event).decode())  # fmt: skip


async def record(conn: Connection, schema: str, event: Event, position: Position | None) -> None:
    """Keep an event with where it was read (a known event only gains its position); project it."""
    await conn.execute(HISTORY_INSERT.format(schema=schema), *_history_row(event, position))
    if isinstance(event, ClientRegistered):
        await _client_registered(conn, schema, event)
    elif isinstance(event, PlanChanged):
        await _plan_changed(conn, schema, event)
    elif isinstance(event, BillingDetailsChanged):
        await _billing_details(conn, schema, event)
    else:
        await read_model.project(conn, schema, event)


async def record_own(conn: Connection, schema: str, events: Sequence[Event]) -> None:
    """Keep events billing just appended, in the same transaction: each kind of write in one
    batch (billing's own events feed the read model only, never the clients table)."""
    if not events:
        return
    rows = [_history_row(event, None) for event in events]
    await conn.executemany(HISTORY_INSERT.format(schema=schema), rows)
    await read_model.project_all(conn, schema, events)


async def _client_registered(conn: Connection, schema: str, event: ClientRegistered) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.clients (client_id, name, language, contact_email, "
        "registered_at, punch_card) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) "
        "DO UPDATE SET name = EXCLUDED.name, language = EXCLUDED.language, "
        "contact_email = EXCLUDED.contact_email, "
        "punch_card = clients.punch_card OR EXCLUDED.punch_card",
        event.client_id, event.name, event.language, event.contact_email, event.occurred_at,
        isinstance(event.plan, PunchCardPlan),
    )  # fmt: skip


async def _billing_details(conn: Connection, schema: str, event: BillingDetailsChanged) -> None:
    """Whom the invoices are addressed to (a later change wins; an older one is dropped)."""
    details = event.model_dump(
        mode="json",
        include={"legal_name", "address_lines", "postcode", "city", "country", "vat_number",
                 "kvk_number"},
    )  # fmt: skip
    await conn.execute(
        f"UPDATE {schema}.clients SET billing_details = $2::jsonb, billing_details_at = $3 "
        "WHERE client_id = $1 AND (billing_details_at IS NULL OR billing_details_at <= $3)",
        event.client_id, json.dumps(details), event.occurred_at,
    )  # fmt: skip


async def _plan_changed(conn: Connection, schema: str, event: PlanChanged) -> None:
    if isinstance(event.plan, PunchCardPlan):
        await conn.execute(
            f"UPDATE {schema}.clients SET punch_card = true WHERE client_id = $1", event.client_id
        )


async def load_client(
    db: Queryable, schema: str, client_id: UUID, input_topics: Sequence[str]
) -> tuple[ClientFacts, list[LogPosition]]:
    """The client's facts and, per input partition, the last offset they include."""
    rows = await db.fetch(
        f'SELECT payload::text AS payload, topic, partition, "offset" FROM {schema}.history '
        'WHERE client_id = $1 ORDER BY topic NULLS LAST, partition, "offset", occurred_at',
        client_id,
    )
    return _facts_of(client_id, rows, input_topics)


async def load_clients(
    db: Queryable, schema: str, client_ids: Sequence[UUID], input_topics: Sequence[str]
) -> dict[UUID, tuple[ClientFacts, list[LogPosition]]]:
    """`load_client` of several clients in one query (each in the same order as alone)."""
    rows = await db.fetch(
        f'SELECT client_id, payload::text AS payload, topic, partition, "offset" '
        f"FROM {schema}.history WHERE client_id = ANY($1::uuid[]) "
        'ORDER BY client_id, topic NULLS LAST, partition, "offset", occurred_at',
        list(client_ids),
    )
    grouped: dict[UUID, list[Any]] = {client_id: [] for client_id in client_ids}
    for row in rows:
        grouped[row["client_id"]].append(row)
    return {c: _facts_of(c, found, input_topics) for c, found in grouped.items()}


def _facts_of(
    client_id: UUID, rows: Sequence[Any], input_topics: Sequence[str]
) -> tuple[ClientFacts, list[LogPosition]]:
    facts = client_facts((decode(row["payload"]) for row in rows), client_id)
    last: dict[tuple[str, int], int] = {}
    for row in rows:
        if row["topic"] in input_topics:
            key = (row["topic"], row["partition"])
            last[key] = max(last.get(key, -1), row["offset"])
    positions = [LogPosition(topic=t, partition=p, offset=o) for (t, p), o in sorted(last.items())]
    return facts, positions


async def client_ids(db: Queryable, schema: str) -> list[UUID]:
    """Every registered client billing knows."""
    rows = await db.fetch(f"SELECT client_id FROM {schema}.clients ORDER BY client_id")
    return [row["client_id"] for row in rows]


async def client_row(db: Queryable, schema: str, client_id: UUID) -> dict[str, Any] | None:
    """A client's name, language and e-mail, or None."""
    row = await db.fetchrow(f"SELECT * FROM {schema}.clients WHERE client_id = $1", client_id)
    return dict(row) if row is not None else None


async def client_rows(db: Queryable, schema: str, client_ids: Sequence[UUID]) -> dict[UUID, Any]:
    """`client_row` of several clients in one query (the unknown ones left out)."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.clients WHERE client_id = ANY($1::uuid[])", list(client_ids)
    )
    return {row["client_id"]: dict(row) for row in rows}


async def is_punch_card_client(db: Queryable, schema: str, client_id: UUID) -> bool:
    """Whether the client ever had a punch card (only those can run low)."""
    found = await db.fetchval(
        f"SELECT punch_card FROM {schema}.clients WHERE client_id = $1", client_id
    )
    return bool(found)
