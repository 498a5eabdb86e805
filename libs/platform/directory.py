"""What the services' projections of intake share: a `directory_clients` table's updates.

calls, routing and calendar each keep a `directory_clients` table (client_id, office_hours
jsonb, updated_at, and columns of their own); a change of office hours updates each the same
way. routing and calendar also keep name, language and `offboarded` the same way.
"""

from __future__ import annotations

from libs.events.intake import ClientOffboarded, ClientRegistered, OfficeHoursChanged
from libs.events.routing import OperatorDetailsChanged, OperatorPresenceChanged, OperatorRegistered
from libs.platform.db import Connection


async def office_hours_changed(event: OfficeHoursChanged, conn: Connection, schema: str) -> None:
    """The client's office hours (schedule, holidays, closures) were replaced."""
    await conn.execute(
        f"UPDATE {schema}.directory_clients SET office_hours = $2::jsonb, updated_at = $3 "
        "WHERE client_id = $1",
        event.client_id, event.office_hours.model_dump_json(), event.occurred_at,
    )  # fmt: skip


async def client_registered(event: ClientRegistered, conn: Connection, schema: str) -> None:
    """A new client: its name, language and office hours."""
    await conn.execute(
        f"INSERT INTO {schema}.directory_clients (client_id, name, language, office_hours, "
        "updated_at) VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (client_id) DO UPDATE SET "
        "name = EXCLUDED.name, language = EXCLUDED.language, "
        "office_hours = EXCLUDED.office_hours, updated_at = EXCLUDED.updated_at",
        event.client_id, event.name, event.language, event.office_hours.model_dump_json(),
        event.occurred_at,
    )  # fmt: skip


async def client_offboarded(event: ClientOffboarded, conn: Connection, schema: str) -> None:
    """The client left; its row stays (work in flight may still need it)."""
    await conn.execute(
        f"UPDATE {schema}.directory_clients SET offboarded = true, updated_at = $2 "
        "WHERE client_id = $1",
        event.client_id, event.occurred_at,
    )  # fmt: skip


async def operator_registered(
    event: OperatorRegistered | OperatorDetailsChanged, conn: Connection, schema: str
) -> None:
    """An operator on the roster (a `roster` table: operator_id, languages, presence,
    updated_at), and the languages they speak."""
    await conn.execute(
        f"INSERT INTO {schema}.roster (operator_id, languages, presence, updated_at) "
        "VALUES ($1, $2, 'offline', $3) ON CONFLICT (operator_id) DO UPDATE SET "
        "languages = EXCLUDED.languages, updated_at = EXCLUDED.updated_at",
        event.operator_id, sorted(event.languages), event.occurred_at,
    )  # fmt: skip


async def presence_changed(event: OperatorPresenceChanged, conn: Connection, schema: str) -> None:
    """Whether the operator is on duty (a change older than the row's is ignored)."""
    await conn.execute(
        f"UPDATE {schema}.roster SET presence = $2, updated_at = $3 "
        "WHERE operator_id = $1 AND updated_at <= $3",
        event.operator_id, event.presence, event.occurred_at,
    )  # fmt: skip
