"""Callers who said they would e-mail, and did: the calls proposed as not billable.

The inbox finds the caller's mail and records AnnouncedMailFound (services/inbox/follow_ups.py);
calls keeps each as a proposal in `announced_mails` (one per call; a second delivery changes
nothing). An operator, staff or the call's own client confirms a proposal, which records the
call's non-billable mark "the caller followed up themselves" with the mail as its evidence
(CallMarkedNonBillable.evidence): billing leaves the call out and names the mail.

A proposal's status follows from the call: confirmed while the call's mark carries that mail,
marked otherwise while it carries another mark, proposed else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from libs.errors import NotFound
from libs.events.calls import MailEvidence, NonBillableReason
from libs.events.inbox import AnnouncedMailFound
from libs.platform.auth import Principal
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.calls.commands import Outcome, execute
from services.calls.domain.commands import MarkNonBillable
from services.calls.read_model import Queryable

REASON: NonBillableReason = "caller_follows_up_themselves"
_STATUS = (
    "CASE WHEN c.non_billable IS NULL THEN 'proposed' "
    "WHEN c.non_billable->'evidence'->>'message_id' = a.message_id THEN 'confirmed' "
    "ELSE 'marked_otherwise' END"
)


async def announced_mail_found(event: AnnouncedMailFound, conn: Connection, schema: str) -> None:
    """Keep the proposal (the first one for the call; the inbox records one at most)."""
    await conn.execute(
        f"INSERT INTO {schema}.announced_mails (call_id, client_id, conversation_id, mail_id, "
        "message_id, sender, subject, received_at, matched_by, found_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (call_id) DO NOTHING",
        event.call_id, event.client_id, event.conversation_id, event.mail_id, event.message_id,
        event.sender, event.subject, event.received_at, event.matched_by, event.occurred_at,
    )  # fmt: skip


async def listing(
    db: Queryable, schema: str, *, tenant: UUID | None, client_id: UUID | None,
    status: str | None, since: datetime | None, limit: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """The proposals, newest first; a tenant-bound caller sees only its own client's."""
    rows = await db.fetch(
        f"SELECT a.*, {_STATUS} AS status FROM {schema}.announced_mails a "
        f"LEFT JOIN {schema}.calls c ON c.call_id = a.call_id "
        "WHERE ($1::uuid IS NULL OR a.client_id = $1) AND ($2::uuid IS NULL OR a.client_id = $2) "
        f"AND ($3::text IS NULL OR {_STATUS} = $3) AND ($4::timestamptz IS NULL "
        "OR a.found_at >= $4) ORDER BY a.found_at DESC, a.call_id LIMIT $5",
        tenant, client_id, status, since, limit,
    )  # fmt: skip
    return [dict(row) for row in rows]


async def of_call(
    db: Queryable, schema: str, call_id: UUID, tenant: UUID | None
) -> dict[str, Any] | None:
    """The call's proposal with its status (None when none, or another tenant's)."""
    row = await db.fetchrow(
        f"SELECT a.*, {_STATUS} AS status FROM {schema}.announced_mails a "
        f"LEFT JOIN {schema}.calls c ON c.call_id = a.call_id "
        "WHERE a.call_id = $1 AND ($2::uuid IS NULL OR a.client_id = $2)",
        call_id, tenant,
    )  # fmt: skip
    return dict(row) if row else None


async def confirm(
    store: EventStore, call_id: UUID, caller: Principal, at: datetime, comment: str
) -> Outcome:
    """Mark the call not billable with its caller's mail as the evidence.

    NotFound when the call has no proposal the caller may see; a call marked already is a
    Conflict (from the call's own rules), so a second confirmation records nothing.
    """
    found = await of_call(store.pool, store.schema, call_id, caller.tenant)
    if found is None:
        raise NotFound(f"no announced mail found for call {call_id}")
    evidence = MailEvidence(
        conversation_id=found["conversation_id"], message_id=found["message_id"],
        sender=found["sender"], subject=found["subject"], received_at=found["received_at"],
    )  # fmt: skip
    command = MarkNonBillable(
        call_id=call_id, at=at, actor=caller.actor(), tenant=caller.tenant, reason=REASON,
        comment=comment, evidence=evidence,
    )  # fmt: skip
    return await execute(store, command)
