"""What the services' projections of intake share: a `directory_clients` table's updates.

calls and routing each keep a `directory_clients` table (client_id, office_hours jsonb,
updated_at, and columns of their own); a change of office hours updates both the same way.
"""

from __future__ import annotations

from libs.events.intake import OfficeHoursChanged
from libs.platform.db import Connection


async def office_hours_changed(event: OfficeHoursChanged, conn: Connection, schema: str) -> None:
    """The client's office hours (schedule, holidays, closures) were replaced."""
    await conn.execute(
        f"UPDATE {schema}.directory_clients SET office_hours = $2::jsonb, updated_at = $3 "
        "WHERE client_id = $1",
        event.client_id, event.office_hours.model_dump_json(), event.occurred_at,
    )  # fmt: skip
