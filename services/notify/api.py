"""The notify HTTP API: run digests, see what was sent, keep the forwarding codes per provider.
Thin on purpose."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from libs.errors import NotFound
from libs.events.values import OfficeHours
from libs.platform.auth import Anyone, Staff
from libs.platform.http import Runtime, Store, app_state
from libs.platform.idempotency import IdempotentRoute, IdempotentRun
from libs.platform.problems import refusals
from services.notify import commands, directory, outbox, welcome
from services.notify.domain.schedule import local_day
from services.notify.notifier import Notifier
from services.notify.schemas import (
    DigestRead,
    DigestRunCreate,
    DigestRunRead,
    ForwardingCodesPut,
    ForwardingCodesRead,
    NotificationDetail,
    NotificationRead,
)

router = APIRouter(tags=["notify"], route_class=IdempotentRoute)
ERRORS = refusals(
    not_found="No such client, notification or provider",
    rejected="Invalid request, or a day that cannot have a digest",
)
NotifierDep = Annotated[Notifier, app_state("notifier")]


@router.post("/digests/run", responses=ERRORS, dependencies=[IdempotentRun])
async def run_digests(
    body: DigestRunCreate, rt: Runtime, store: Store, n: NotifierDep, _: Staff
) -> DigestRunRead:
    """Create every digest client's digest for the day now; runs again return the same (staff)."""
    now = rt.clock.now()
    outcomes = await commands.run_digests(store.pool, store.schema, n, body.date, now)
    return DigestRunRead(
        date=body.date or local_day(now, OfficeHours()),
        digests=[DigestRead.model_validate(o, from_attributes=True) for o in outcomes],
    )


@router.get("/clients/{client_id}/notifications", responses=ERRORS)
async def client_notifications(
    client_id: UUID,
    store: Store,
    caller: Anyone,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[NotificationRead]:
    """The client's notifications, newest first: state, channel, kind, calls, errors.

    A client sees only its own; another client is not found.
    """
    caller.own(client_id, "client")
    rows = await outbox.for_client(store.pool, store.schema, client_id, limit)
    if not rows and await directory.load_client(store.pool, store.schema, client_id) is None:
        raise NotFound(f"notify knows no client {client_id}")
    return [NotificationRead.model_validate(row) for row in rows]


@router.get("/notifications/{notification_id}", responses=ERRORS)
async def get_notification(
    notification_id: UUID, store: Store, caller: Anyone
) -> NotificationDetail:
    """One notification with its subject and bodies; another client's is not found."""
    row = await outbox.get(store.pool, store.schema, notification_id, caller.tenant)
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    return NotificationDetail.model_validate(row)


Provider = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


@router.get("/forwarding-codes")
async def list_forwarding_codes(store: Store, _: Anyone) -> list[ForwardingCodesRead]:
    """The bureau's forwarding codes per provider, which the welcome mail lists after the
    standard GSM codes."""
    found = await welcome.variants(store.pool, store.schema)
    return [ForwardingCodesRead.model_validate(welcome.view(v)) for v in found]


@router.put("/forwarding-codes/{provider}", responses=ERRORS)
async def put_forwarding_codes(
    provider: Provider, body: ForwardingCodesPut, rt: Runtime, store: Store, caller: Staff
) -> ForwardingCodesRead:
    """Set how a provider's lines forward to the bureau and stop (staff)."""
    saved = await welcome.set_codes(
        store, provider, body.model_dump(), caller.actor(), rt.clock.now()
    )
    return ForwardingCodesRead.model_validate(saved)


@router.delete("/forwarding-codes/{provider}", status_code=204, responses=ERRORS)
async def delete_forwarding_codes(
    provider: Provider, rt: Runtime, store: Store, caller: Staff
) -> None:
    """Remove a provider from the table (staff)."""
    await welcome.remove_codes(store, provider, caller.actor(), rt.clock.now())
