"""The welcome mail's facts in notify's tables: each client's numbers and urgent matters, as
intake's events tell them, and the bureau's forwarding codes per provider, which staff keep
here (ForwardingCodesSet / ForwardingCodesRemoved on the stream `forwarding-codes`, appended
in the same transaction as the table changes).

The welcome itself is queued when intake's ClientActivated arrives: intake's events share the
client's key, so the numbers and the book reached notify before it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from libs.errors import NotFound
from libs.events.envelope import Actor
from libs.events.intake import NumberAssigned, NumberReleased, SecretaryBookRevised
from libs.events.notify import ForwardingCodesRemoved, ForwardingCodesSet
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.notify.directory import Queryable
from services.notify.domain.welcome import Codes, Urgency, Variant

STREAM = "forwarding-codes"
CODE_FIELDS = (
    "forward_all", "stop_all", "forward_busy", "forward_no_answer", "forward_unreachable",
    "stop_conditional",
)  # fmt: skip


async def number_changed(
    event: NumberAssigned | NumberReleased, conn: Connection, schema: str
) -> None:
    """A number given to the client or taken back (a later change wins, an older one is dropped)."""
    await conn.execute(
        f"INSERT INTO {schema}.client_numbers AS n (client_id, number, assigned, changed_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, number) DO UPDATE "
        "SET assigned = EXCLUDED.assigned, changed_at = EXCLUDED.changed_at "
        "WHERE n.changed_at <= EXCLUDED.changed_at",
        event.client_id, event.number, isinstance(event, NumberAssigned), event.occurred_at,
    )  # fmt: skip


async def book_revised(event: SecretaryBookRevised, conn: Connection, schema: str) -> None:
    """The book's urgent matters (a newer version replaces an older one, never the reverse)."""
    rules = [{"kind": r.kind, "description": r.description} for r in event.urgency_rules]
    await conn.execute(
        f"INSERT INTO {schema}.client_urgency AS u (client_id, book_version, rules) "
        "VALUES ($1, $2, $3::jsonb) ON CONFLICT (client_id) DO UPDATE "
        "SET book_version = EXCLUDED.book_version, rules = EXCLUDED.rules "
        "WHERE u.book_version <= EXCLUDED.book_version",
        event.client_id, event.book_version, json.dumps(rules),
    )  # fmt: skip


async def numbers_of(db: Queryable, schema: str, client_id: UUID) -> tuple[str, ...]:
    """The client's numbers now, in the order they were given."""
    rows = await db.fetch(
        f"SELECT number FROM {schema}.client_numbers WHERE client_id = $1 AND assigned "
        "ORDER BY changed_at, number",
        client_id,
    )
    return tuple(row["number"] for row in rows)


async def urgent_of(db: Queryable, schema: str, client_id: UUID) -> tuple[Urgency, ...]:
    """What the client's latest book calls urgent."""
    rules = await db.fetchval(
        f"SELECT rules FROM {schema}.client_urgency WHERE client_id = $1", client_id
    )
    return tuple(Urgency(r["kind"], r["description"]) for r in json.loads(rules or "[]"))


async def variants(db: Queryable, schema: str) -> tuple[Variant, ...]:
    """The bureau's forwarding codes per provider."""
    rows = await db.fetch(f"SELECT * FROM {schema}.forwarding_codes ORDER BY provider")
    return tuple(_variant(row) for row in rows)


def _variant(row: Any) -> Variant:
    codes = json.loads(row["codes"])
    return Variant(row["provider"], row["name"], Codes(**codes), row["note"])


def view(variant: Variant) -> dict[str, Any]:
    """A provider's codes as the API shows them."""
    return {"provider": variant.provider, "name": variant.name, "note": variant.note,
            **{f: getattr(variant.codes, f) for f in CODE_FIELDS}}  # fmt: skip


async def set_codes(
    store: EventStore, provider: str, fields: dict[str, str], actor: Actor, at: datetime
) -> dict[str, Any]:
    """Set a provider's codes: the event and the table row, in one transaction."""
    event = ForwardingCodesSet(occurred_at=at, actor=actor, provider=provider, **fields)
    codes = {f: getattr(event, f) for f in CODE_FIELDS}
    async with store.transaction() as conn:
        await store.append(STREAM, None, [event], conn=conn)
        await conn.execute(
            f"INSERT INTO {store.schema}.forwarding_codes (provider, name, codes, note, "
            "updated_at) VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT (provider) DO UPDATE "
            "SET name = EXCLUDED.name, codes = EXCLUDED.codes, note = EXCLUDED.note, "
            "updated_at = EXCLUDED.updated_at",
            provider, event.name, json.dumps(codes), event.note, at,
        )  # fmt: skip
    return view(Variant(provider, event.name, Codes(**codes), event.note))


async def remove_codes(store: EventStore, provider: str, actor: Actor, at: datetime) -> None:
    """Remove a provider from the table; NotFound when it is not in it."""
    async with store.transaction() as conn:
        gone = await conn.fetchval(
            f"DELETE FROM {store.schema}.forwarding_codes WHERE provider = $1 RETURNING true",
            provider,
        )
        if not gone:
            raise NotFound(f"no forwarding codes for provider {provider}")
        event = ForwardingCodesRemoved(occurred_at=at, actor=actor, provider=provider)
        await store.append(STREAM, None, [event], conn=conn)
