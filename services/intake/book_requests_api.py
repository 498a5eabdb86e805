"""The client asks for a change to its secretary book (from the portal, or staff on its behalf
after a phone call); staff read the requests and write the new version with PUT /book.

Recorded as BookChangeRequested on the client's book-requests stream, in the client's words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from libs.errors import Conflict, NotFound
from libs.events import new_id
from libs.events.intake import BookChangeRequested
from libs.events.values import Text
from libs.platform.auth import StaffOrClient
from libs.platform.http import Runtime, Store
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from services.intake import read_model
from services.intake.commands import client_history

router = APIRouter(tags=["intake"], route_class=IdempotentRoute)
ERRORS = refusals(not_found="Unknown client", conflict="The client has left",
                  rejected="Invalid request")  # fmt: skip


class BookChangeCreate(BaseModel):
    """What should change in the book, in the client's words."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[Text, Field(min_length=1, examples=["Noem ook ons filiaal in Breda"])]


class BookChangeRead(BaseModel):
    """A change the client asked for."""

    request_id: UUID
    client_id: UUID
    text: str
    book_version: int | None = Field(description="The version in force when it was asked")
    requested_at: datetime
    requested_by: str


async def _own(client_id: Annotated[UUID, Path()], caller: StaffOrClient) -> UUID:
    return caller.own(client_id, "client")


def _read(event: BookChangeRequested) -> BookChangeRead:
    return BookChangeRead(request_id=event.request_id, client_id=event.client_id,
                          text=event.text, book_version=event.book_version,
                          requested_at=event.occurred_at,
                          requested_by=f"{event.actor.kind}:{event.actor.id}")  # fmt: skip


@router.post("/clients/{client_id}/book/change-requests", status_code=201, responses=ERRORS,
             dependencies=[Idempotent])  # fmt: skip
async def request_book_change(
    client_id: Annotated[UUID, Depends(_own)], body: BookChangeCreate, rt: Runtime,
    store: Store, caller: StaffOrClient,
) -> BookChangeRead:  # fmt: skip
    """Ask the bureau to change the book; the answer is the recorded request."""
    row = await read_model.client(store.pool, store.schema, client_id)
    if row is None:
        raise NotFound(f"no client {client_id}")
    if row.status == "offboarded":
        raise Conflict(f"client {client_id} has left; its book no longer changes")
    event = BookChangeRequested(client_id=client_id, occurred_at=rt.clock.now(),
                                actor=caller.actor(), request_id=new_id(), text=body.text,
                                book_version=row.book_version)  # fmt: skip
    await store.append(f"book-requests-{event.request_id}", None, [event])
    return _read(event)


@router.get("/clients/{client_id}/book/change-requests", responses=ERRORS)
async def list_book_changes(
    client_id: Annotated[UUID, Depends(_own)], store: Store
) -> list[BookChangeRead]:
    """The changes the client asked for, oldest first."""
    if await read_model.client(store.pool, store.schema, client_id) is None:
        raise NotFound(f"no client {client_id}")
    history = await client_history(store, client_id)
    return [_read(e) for e in history if isinstance(e, BookChangeRequested)]
