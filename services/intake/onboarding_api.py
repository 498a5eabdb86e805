"""Onboarding over HTTP: enquiry, quote (and its PDF), intake form, terms, telephony; the
number is reserved and the client activated through the routes of services/intake/api.py.

Staff record the steps; the client itself may read its own onboarding and quote. A step out
of order is a 409 that names what is missing.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from libs.errors import Conflict, NotFound
from libs.events import Event
from libs.events.intake import ClientRegistered, QuoteIssued
from libs.platform.auth import Anyone, Staff, StaffOrClient
from libs.platform.http import Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import refusals
from libs.platform.store import EventStore
from services.intake import metrics, quote_pdf
from services.intake.adapters.twilio_numbers import (
    TwilioAccount,
    TwilioUnreachable,
    set_voice_webhook,
)
from services.intake.commands import client_history, execute
from services.intake.domain import commands
from services.intake.domain.decide import decide
from services.intake.domain.state import ClientState, fold
from services.intake.schemas import (
    EnquiryCreate,
    OnboardingRead,
    QuoteCreate,
    QuoteRead,
    TermsAccept,
)
from services.intake.settings import IntakeSettings
from services.intake.views import onboarding_read

router = APIRouter(
    tags=["intake"],
    responses=refusals(rejected="Malformed request"),
    route_class=IdempotentRoute,
)
STEP = refusals(not_found="Unknown client", conflict="A step before this one is missing")
ClientId = Annotated[UUID, Path(description="The client's id")]
Config = Annotated[IntakeSettings, Depends(service_settings)]


async def _own(client_id: ClientId, caller: Anyone) -> UUID:
    return caller.own(client_id, "client")


OwnClientId = Annotated[UUID, Depends(_own)]


async def _client(store: EventStore, client_id: UUID) -> tuple[ClientState, list[Event]]:
    history = await client_history(store, client_id)
    client = fold(history).client
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client, history


async def _step(store: EventStore, command: commands.Command, step: str) -> OnboardingRead:
    await execute(store, command)
    metrics.ONBOARDING_STEPS.labels(step).inc()
    client, _ = await _client(store, command.client_id)
    return onboarding_read(client)


@router.post("/clients/{client_id}/onboarding/enquiry", status_code=201, responses=STEP,
             dependencies=[Idempotent])  # fmt: skip
async def record_enquiry(
    client_id: ClientId, body: EnquiryCreate, rt: Runtime, store: Store, caller: Staff
) -> OnboardingRead:
    """Onboarding begins: who got in touch and what they wish for."""
    command = commands.RecordEnquiry(client_id=client_id, at=rt.clock.now(), actor=caller.actor(),
                                     contact_name=body.contact_name, phone=body.phone,
                                     wishes=body.wishes)  # fmt: skip
    return await _step(store, command, "enquiry")


@router.post("/clients/{client_id}/quote", status_code=201, responses=STEP,
             dependencies=[Idempotent])  # fmt: skip
async def issue_quote(
    client_id: ClientId, body: QuoteCreate, rt: Runtime, store: Store, caller: Staff
) -> QuoteRead:
    """Quote the chosen plan and its amounts until a day; a new quote replaces the last."""
    command = commands.IssueQuote(client_id=client_id, at=rt.clock.now(), actor=caller.actor(),
                                  valid_until=body.valid_until, plan=body.plan,
                                  email_handling=body.email_handling)  # fmt: skip
    quote = next(e for e in await execute(store, command) if isinstance(e, QuoteIssued))
    metrics.ONBOARDING_STEPS.labels("quote").inc()
    return _quote_read(quote)


def _quote_read(quote: QuoteIssued) -> QuoteRead:
    return QuoteRead(plan=quote.plan, email_handling=quote.email_handling,
                     call_rate_cents=quote.call_rate_cents, setup_fee_cents=quote.setup_fee_cents,
                     valid_until=quote.valid_until, issued_at=quote.occurred_at)  # fmt: skip


@router.get("/clients/{client_id}/quote.pdf", responses={**STEP, 200: {"content": {
    "application/pdf": {}}, "description": "The quote in the client's language"}})  # fmt: skip
async def read_quote_pdf(_caller: StaffOrClient, client_id: OwnClientId, store: Store) -> Response:
    """The latest quote as a PDF in the client's language; 404 before any quote."""
    _, history = await _client(store, client_id)
    quotes = [e for e in history if isinstance(e, QuoteIssued)]
    registered = next(e for e in history if isinstance(e, ClientRegistered))
    if not quotes:
        raise NotFound(f"client {client_id} has no quote yet")
    doc = quote_pdf.QuoteDocument(registered.name, registered.language, quotes[-1])
    return Response(quote_pdf.render(doc), media_type="application/pdf")


@router.post("/clients/{client_id}/onboarding/intake-form", responses=STEP)
async def receive_intake_form(
    client_id: ClientId, rt: Runtime, store: Store, caller: Staff
) -> OnboardingRead:
    """The intake form is back complete (its book, preferences and hours recorded already)."""
    command = commands.ReceiveIntakeForm(client_id=client_id, at=rt.clock.now(),
                                         actor=caller.actor())  # fmt: skip
    return await _step(store, command, "intake_form")


@router.post("/clients/{client_id}/onboarding/terms", responses=STEP)
async def accept_terms(
    client_id: ClientId, body: TermsAccept, rt: Runtime, store: Store, caller: Staff
) -> OnboardingRead:
    """The client accepted this version of the general terms; who signed, and now."""
    command = commands.AcceptTerms(client_id=client_id, at=rt.clock.now(), actor=caller.actor(),
                                   terms_version=body.terms_version,
                                   accepted_by=body.accepted_by)  # fmt: skip
    return await _step(store, command, "terms")


@router.post("/clients/{client_id}/onboarding/telephony", responses={**STEP, 503: {
    "description": "Twilio's API did not answer; nothing was recorded"}})  # fmt: skip
async def configure_telephony(
    client_id: ClientId, rt: Runtime, store: Store, caller: Staff, config: Config
) -> OnboardingRead:
    """Set the number's voice webhook through Twilio (409 without Twilio credentials)."""
    if not config.twilio_configured or config.twilio_auth_token is None:
        raise Conflict("no Twilio credentials are set: configure the exchange by hand and "
                       "tick POST /clients/{id}/onboarding/telephony-done")  # fmt: skip
    _, history = await _client(store, client_id)
    state = fold(history)
    command = commands.ConfirmTelephony(client_id=client_id, at=rt.clock.now(),
                                        actor=caller.actor(), method="twilio",
                                        voice_url=config.voice_webhook_url)  # fmt: skip
    decide(command, state)  # 409 naming what is missing, before Twilio is touched
    account = TwilioAccount(str(config.twilio_account_sid),
                            config.twilio_auth_token.get_secret_value(),
                            config.twilio_api_base_url)  # fmt: skip
    try:
        await set_voice_webhook(account, state.numbers_of(client_id)[0], config.voice_webhook_url)
    except TwilioUnreachable as exc:
        raise HTTPException(503, f"{exc}; nothing was recorded, try again",
                            headers={"Retry-After": "30"}) from exc  # fmt: skip
    return await _step(store, command, "telephony")


@router.post("/clients/{client_id}/onboarding/telephony-done", responses=STEP)
async def tick_telephony(
    client_id: ClientId, rt: Runtime, store: Store, caller: Staff
) -> OnboardingRead:
    """Staff configured the exchange by hand: the checklist step is ticked."""
    command = commands.ConfirmTelephony(client_id=client_id, at=rt.clock.now(),
                                        actor=caller.actor(), method="checklist")  # fmt: skip
    return await _step(store, command, "telephony")


@router.get("/clients/{client_id}/onboarding", responses=STEP)
async def read_onboarding(
    _caller: StaffOrClient, client_id: OwnClientId, store: Store
) -> OnboardingRead:
    """Every step in order with the time it was done, the next one, the lead time."""
    client, _ = await _client(store, client_id)
    return onboarding_read(client)
