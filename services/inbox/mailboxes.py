"""The clients' mailboxes: the forwarding address each is given, the agreed answer time, and
whose address the answers come from. One stream per client (`mailbox-<client>`)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from libs.errors import NotFound
from libs.events.envelope import Actor
from libs.events.inbox import MailboxConfigured, SendAs
from libs.platform.commands import retrying
from libs.platform.store import EventStore
from services.inbox import directory
from services.inbox.directory import Queryable


def stream(client_id: UUID) -> str:
    """The stream of a client's mailbox settings."""
    return f"mailbox-{client_id}"


def forwarding_address(client_id: UUID, name: str, domain: str) -> str:
    """The client's forwarding address: its name's letters and a short code only it has."""
    slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:20] or "client"
    code = hashlib.sha256(str(client_id).encode()).hexdigest()[:6]
    return f"{slug}-{code}@{domain}"


async def configure(
    store: EventStore, client_id: UUID, *, domain: str, client_address: str,
    answer_within_minutes: int, send_as: SendAs, actor: Actor, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Set how the bureau handles the client's mail; the forwarding address stays the same."""
    facts = await directory.client_facts(store.pool, store.schema, client_id)
    if facts is None or facts.offboarded:
        raise NotFound(f"no client {client_id}")

    async def attempt() -> dict[str, Any]:
        async with store.transaction() as conn:
            row = await conn.fetchrow(
                f"SELECT * FROM {store.schema}.mailboxes WHERE client_id = $1 FOR UPDATE",
                client_id,
            )
            address = row["forwarding_address"] if row else forwarding_address(
                client_id, facts.name, domain
            )  # fmt: skip
            event = MailboxConfigured(
                client_id=client_id, occurred_at=at, actor=actor, forwarding_address=address,
                client_address=client_address, client_name=facts.name[:500],
                answer_within_minutes=answer_within_minutes, send_as=send_as,
            )  # fmt: skip
            version = row["version"] if row else 0
            await store.append(stream(client_id), version, [event], conn=conn)
            saved = await conn.fetchrow(
                f"INSERT INTO {store.schema}.mailboxes (client_id, version, forwarding_address, "
                "client_address, client_name, answer_within_minutes, send_as, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (client_id) DO UPDATE SET "
                "version = EXCLUDED.version, client_address = EXCLUDED.client_address, "
                "client_name = EXCLUDED.client_name, "
                "answer_within_minutes = EXCLUDED.answer_within_minutes, "
                "send_as = EXCLUDED.send_as, updated_at = EXCLUDED.updated_at RETURNING *",
                client_id, version + 1, address, client_address, event.client_name,
                answer_within_minutes, send_as, at,
            )  # fmt: skip
            assert saved is not None
            return dict(saved)

    return await retrying(attempt, what=f"the mailbox of client {client_id}")


async def get(db: Queryable, schema: str, client_id: UUID) -> asyncpg.Record | None:
    """A client's mailbox, or None."""
    return await db.fetchrow(f"SELECT * FROM {schema}.mailboxes WHERE client_id = $1", client_id)


async def client_of(db: Queryable, schema: str, address: str) -> UUID | None:
    """The client a forwarding address belongs to (None: no such address, or a client gone)."""
    found: UUID | None = await db.fetchval(
        f"SELECT m.client_id FROM {schema}.mailboxes m JOIN {schema}.directory_clients d "
        "USING (client_id) WHERE m.forwarding_address = $1 AND NOT d.offboarded",
        address.lower(),
    )
    return found
