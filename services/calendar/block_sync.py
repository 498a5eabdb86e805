"""Keeping each client's callback block current in its calendar.

For a client with a reserved block and write permission: while callbacks are open, one entry
in the next block that has not ended lists them; when none are open the entry is removed.
The entry's UID is fixed per client (domain/block.py), so a rewrite replaces it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import structlog

from libs.events.calendar import CallbackBlock
from libs.platform.sealed import SecretBox
from libs.platform.store import EventStore
from services.calendar import directory, linking, metrics
from services.calendar.adapters.port import CalendarUnavailable
from services.calendar.domain import block
from services.calendar.settings import CalendarSettings

log = structlog.get_logger(__name__)


async def sync_due(
    store: EventStore, now: datetime, config: CalendarSettings, box: SecretBox | None
) -> int:
    """Write the block of every linked client whose list changed or whose block passed."""
    rows = await store.pool.fetch(
        f"SELECT * FROM {store.schema}.links WHERE linked AND (block_dirty "
        "OR (block_until IS NOT NULL AND block_until <= $1)) ORDER BY client_id LIMIT 100",
        now,
    )
    done = 0
    for row in rows:
        if await sync_one(store, row, now, config, box):
            done += 1
    return done


async def sync_one(
    store: EventStore,
    row: asyncpg.Record,
    now: datetime,
    config: CalendarSettings,
    box: SecretBox | None,
) -> bool:
    """Write (or remove) one client's block entry; False when the calendar refused."""
    schema, client_id = store.schema, row["client_id"]
    link = linking.link_of(row)
    assert link is not None
    facts = await directory.client_facts(store.pool, schema, client_id)
    open_ones = await store.pool.fetch(
        f"SELECT caller_name, caller_number, due_at FROM {schema}.callbacks "
        "WHERE client_id = $1 AND status = 'open' ORDER BY due_at",
        client_id,
    )
    reserved: CallbackBlock | None = link.callback_block
    wanted = reserved is not None and link.writable and facts is not None
    until: datetime | None = None
    try:
        if wanted and open_ones and facts is not None and reserved is not None:
            zone = facts.office_hours.timezone
            when = block.next_block(reserved, zone, now)
            if when is not None:
                listed = [block.OpenCallback(r["caller_name"], r["caller_number"], r["due_at"])
                          for r in open_ones]  # fmt: skip
                entry = block.block_entry(client_id, when, listed, facts.language, zone)
                port = await linking.checked_adapter(row, box, config)
                await port.put(entry)
                metrics.CALENDAR_WRITES.labels(link.provider, "block", "ok").inc()
                until = when.end
        elif row["block_until"] is not None or (link.writable and reserved is not None):
            port = await linking.checked_adapter(row, box, config)
            await port.remove(f"{block.block_id(client_id)}@frontdesk")
            metrics.CALENDAR_WRITES.labels(link.provider, "block", "ok").inc()
    except CalendarUnavailable as exc:
        metrics.CALENDAR_WRITES.labels(link.provider, "block", "failed").inc()
        log.warning("calendar.block_failed", client_id=str(client_id), error=str(exc))
        return False
    await _written(store, client_id, row["block_changes"], until)
    return True


async def _written(
    store: EventStore, client_id: UUID, changes: int, until: datetime | None
) -> None:
    """The block is current (unless the list or the link changed while it was written)."""
    await store.pool.execute(
        f"UPDATE {store.schema}.links SET block_dirty = false, block_until = $3 "
        "WHERE client_id = $1 AND block_changes = $2",
        client_id, changes, until,
    )  # fmt: skip
