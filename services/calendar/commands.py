"""Link commands: lock the client's link row, decide, append at the row's version, save.

Linking first reads the calendar once with the credential given (short timeout), so a wrong
URL, password or refresh token is refused at once (422) instead of failing every read later.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from libs.errors import Rejected
from libs.platform.commands import retrying
from libs.platform.sealed import SecretBox
from libs.platform.store import EventStore
from services.calendar import linking, metrics
from services.calendar.adapters.port import CalendarUnavailable
from services.calendar.domain import links
from services.calendar.domain.links import LinkCalendar, LinkCommand
from services.calendar.settings import CalendarSettings

log = structlog.get_logger(__name__)


async def verify(command: LinkCalendar, secret: str, config: CalendarSettings) -> None:
    """Read the calendar once with the credential given; Rejected with the reason if it fails."""
    await linking.check_destination(command.provider, command.calendar, config)
    port = linking.make_adapter(command.provider, command.calendar, command.account, secret, config)
    try:
        await port.busy(command.at, command.at + timedelta(hours=1))
    except CalendarUnavailable as exc:
        raise Rejected(f"the calendar could not be read with what was given: {exc}") from exc


async def change_link(
    store: EventStore,
    command: LinkCommand,
    *,
    box: SecretBox | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    """Run a link command in a transaction of its own; the link as answers show it."""
    sealed = None
    if isinstance(command, LinkCalendar):
        if box is None:
            raise Rejected("no secret keys are configured: a calendar cannot be linked here")
        sealed = box.seal(secret or "", linking.secret_context(command.client_id))

    async def attempt() -> dict[str, Any]:
        async with store.transaction() as conn:
            row = await linking.lock(conn, store.schema, command.client_id)
            events = links.decide(command, linking.link_of(row))
            if events:
                version = row["version"] if row else 0
                append = partial(store.append, conn=conn)
                await append(linking.stream(command.client_id), version, events)
            after = await linking.save(conn, store.schema, row, events, command.at, sealed)
            assert after is not None
            return linking.view(after)

    view = await retrying(attempt, what=f"calendar of client {command.client_id}")
    await metrics.count_links(store.pool, store.schema)
    log.info(
        "calendar.link_changed", client_id=str(command.client_id), command=type(command).__name__
    )
    return view
