"""The secretary book handed over (staff, or the client itself): every version, as a PDF or
as JSON, only when no invoice is open (409 naming each open one otherwise)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict

from libs.platform.auth import StaffOrClient
from libs.platform.http import Runtime, Store
from libs.platform.idempotency import IdempotentRoute
from libs.platform.problems import refusals
from services.intake import handover

router = APIRouter(tags=["intake"], route_class=IdempotentRoute)
ERRORS = refusals(
    not_found="Unknown client",
    conflict="An invoice is still open (each is listed), or there is no book",
)
MEDIA = {"pdf": "application/pdf", "json": "application/json"}


class HandOverCreate(BaseModel):
    """In which form the book goes to the client."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["pdf", "json"] = "pdf"


async def _own(client_id: Annotated[UUID, Path()], caller: StaffOrClient) -> UUID:
    return caller.own(client_id, "client")


@router.post(
    "/clients/{client_id}/book/hand-over",
    responses={**ERRORS, 200: {"content": {m: {} for m in MEDIA.values()}}},
    response_class=Response,
)
async def hand_over(
    client_id: Annotated[UUID, Depends(_own)], body: HandOverCreate, rt: Runtime, store: Store,
    caller: StaffOrClient,
) -> Response:  # fmt: skip
    """Release every version of the secretary book, once nothing is owed (recorded)."""
    content = await handover.hand_over(store, client_id, body.format, caller, rt.clock.now())
    name = f"secretary-book-{client_id}.{body.format}"
    return Response(
        content, media_type=MEDIA[body.format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip
