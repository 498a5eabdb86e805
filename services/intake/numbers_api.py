"""The pool of numbers and the numbers a client holds, over HTTP (staff only).

The app includes this router before services/intake/api.py's, so `GET /numbers/pool` is
matched before the screen pop's `GET /numbers/{number}` could take "pool" for a number.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Response

from libs.events import NumberAssigned
from libs.events.intake import NumberAddedToPool
from libs.platform.auth import Staff
from libs.platform.http import Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from services.intake import read_onboarding
from services.intake.commands import execute
from services.intake.domain import commands
from services.intake.domain.phone import normalise_number
from services.intake.domain.pool import PoolState
from services.intake.schemas import NumberAssign, NumberRead, PoolAdd, PoolAdded, PoolNumberRead
from services.intake.settings import IntakeSettings
from services.intake.views import pool_number_read

router = APIRouter(
    tags=["intake"],
    responses=refusals(rejected="Malformed request"),
    route_class=IdempotentRoute,
)
CHANGE = refusals(
    not_found="Unknown client or number, or not the caller's client's",
    conflict="Taken, resting in quarantine, or no free number",
)
ClientId = Annotated[UUID, Path(description="The client's id")]
Number = Annotated[str, Path(max_length=64, description="E.164, e.g. +31851234567")]
Config = Annotated[IntakeSettings, Depends(service_settings)]


@router.post(
    "/clients/{client_id}/numbers", status_code=201, responses=CHANGE, dependencies=[Idempotent]
)
async def assign_number(
    client_id: ClientId, body: NumberAssign, rt: Runtime, store: Store, caller: Staff
) -> NumberRead:
    """Reserve a number for the client: the one named, or the pool's next free one.

    409 if another client holds it, it rests in quarantine, or the pool has no free number.
    """
    number = None if body.number is None else normalise_number(body.number)
    command = commands.AssignNumber(
        client_id=client_id, at=rt.clock.now(), actor=caller.actor(), number=number
    )
    events = await execute(store, command)
    assigned = next(e for e in events if isinstance(e, NumberAssigned))
    return NumberRead(number=assigned.number, client_id=client_id)


@router.delete("/clients/{client_id}/numbers/{number}", status_code=204, responses=CHANGE)
async def release_number(
    client_id: ClientId, number: Number, rt: Runtime, store: Store, caller: Staff, config: Config
) -> Response:
    """Take a number back from the client; it rests in quarantine; 404 if not the client's."""
    command = commands.ReleaseNumber(
        client_id=client_id,
        at=rt.clock.now(),
        actor=caller.actor(),
        number=normalise_number(number),
        quarantine=config.number_quarantine,
    )
    await execute(store, command)
    return Response(status_code=204)


@router.post("/numbers", status_code=201, dependencies=[Idempotent])
async def add_to_pool(body: PoolAdd, rt: Runtime, store: Store, caller: Staff) -> PoolAdded:
    """Add numbers the telephony partner provides to the pool; those it has are left as they are."""
    numbers = list(dict.fromkeys(normalise_number(raw) for raw in body.numbers))
    command = commands.AddNumbersToPool(
        at=rt.clock.now(), actor=caller.actor(), numbers=tuple(numbers)
    )
    added = {e.number for e in await execute(store, command) if isinstance(e, NumberAddedToPool)}
    return PoolAdded(
        added=[n for n in numbers if n in added],
        already_in_pool=[n for n in numbers if n not in added],
    )


@router.get("/numbers/pool")
async def read_pool(
    rt: Runtime, store: Store, _: Staff, state: PoolState | None = None
) -> list[PoolNumberRead]:
    """The pool's numbers in the order they are given out, each free, reserved or resting."""
    rows = await read_onboarding.pool(store.pool, store.schema)
    found = [pool_number_read(row, rt.clock.now()) for row in rows]
    return [n for n in found if state is None or n.state == state]
