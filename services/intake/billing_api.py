"""Whom the client's invoices are addressed to (staff, or the client itself): the legal name,
the postal address and the VAT and Chamber of Commerce numbers. Recorded as
BillingDetailsChanged on the client's billing-details stream; billing prints them on every
invoice and in the UBL file."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from libs.errors import NotFound
from libs.events.intake import BillingDetailsChanged
from libs.events.values import Name, ShortText
from libs.platform.auth import StaffOrClient
from libs.platform.http import Runtime, Store
from libs.platform.idempotency import IdempotentRoute
from libs.platform.problems import refusals
from services.intake import read_model

router = APIRouter(tags=["intake"], route_class=IdempotentRoute)
ERRORS = refusals(not_found="Unknown client", rejected="Invalid billing details")
Line = Annotated[ShortText, Field(min_length=1, max_length=200)]


class BillingDetailsPut(BaseModel):
    """The addressee of the invoices, as a Dutch invoice names it."""

    model_config = ConfigDict(extra="forbid")

    legal_name: Name
    address_lines: list[Line] = Field(min_length=1, max_length=4, examples=[["Dorpsstraat 12"]])
    postcode: Annotated[ShortText, Field(min_length=1, max_length=16)]
    city: Annotated[ShortText, Field(min_length=1, max_length=100)]
    country: str = Field(default="NL", pattern=r"^[A-Z]{2}$")
    vat_number: str | None = Field(default=None, pattern=r"^[A-Z]{2}[0-9A-Z+*.]{2,12}$")
    kvk_number: str | None = Field(default=None, pattern=r"^[0-9]{8}$")


class BillingDetailsRead(BillingDetailsPut):
    """The billing details as recorded."""

    client_id: UUID


async def _own(client_id: Annotated[UUID, Path()], caller: StaffOrClient) -> UUID:
    return caller.own(client_id, "client")


@router.put("/clients/{client_id}/billing-details", responses=ERRORS)
async def put_billing_details(
    client_id: Annotated[UUID, Depends(_own)], body: BillingDetailsPut, rt: Runtime,
    store: Store, caller: StaffOrClient,
) -> BillingDetailsRead:  # fmt: skip
    """Set whom the invoices are addressed to (the next invoice and reminder use it)."""
    if await read_model.client(store.pool, store.schema, client_id) is None:
        raise NotFound(f"no client {client_id}")
    values = body.model_dump()
    event = BillingDetailsChanged(
        client_id=client_id, occurred_at=rt.clock.now(), actor=caller.actor(),
        **{**values, "address_lines": tuple(values["address_lines"])},
    )  # fmt: skip
    await store.append(f"billing-details-{client_id}", None, [event])
    return BillingDetailsRead(client_id=client_id, **values)
