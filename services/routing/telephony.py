"""The transfer leg of an escalation: Twilio fetches TwiML that dials the contact's number.

The operator's console (or the telephony layer) points the caller's leg at
`POST /escalations/{id}/twiml`; routing answers with <Dial> to the phone of the escalation's
latest transfer attempt (or of `?attempt=n`). The Twilio signature is checked before anything
else, with routing's own auth token.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response

import libs.twilio as libtwilio
from libs.events.values import Language
from libs.platform.http import Store
from libs.platform.store import EventStore
from services.routing import directory, escalations, twilio
from services.routing.api import Config
from services.routing.domain.escalation import Dispatch, Escalation
from services.routing.settings import RoutingSettings

router = APIRouter(prefix="/escalations", tags=["telephony"])
_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"CallSid": {"type": "string"}, "To": {"type": "string"}},
                }
            }
        },
    },
    "parameters": [
        {
            "name": libtwilio.SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
        }
    ],
}
_TWIML: dict[int | str, dict[str, Any]] = {
    200: {"content": {libtwilio.TWIML_MEDIA_TYPE: {}}, "description": "TwiML"},
    403: {"description": "Missing or invalid X-Twilio-Signature"},
}


async def signed_form(request: Request, config: RoutingSettings) -> dict[str, str]:
    """The POSTed parameters, once the X-Twilio-Signature proves they come from Twilio."""
    if config.twilio_auth_token is None:
        raise HTTPException(503, "the TwiML webhook is not configured (no Twilio auth token)")
    form = await request.form()
    params = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    token = config.twilio_auth_token.get_secret_value()
    signature = request.headers.get(libtwilio.SIGNATURE_HEADER)
    if not libtwilio.signature_valid(token, public_url(request, config), params, signature):
        raise HTTPException(403, "invalid or missing X-Twilio-Signature")
    return dict(params)


def public_url(request: Request, config: RoutingSettings) -> str:
    """The URL Twilio posted to: the configured public base, or the request's own URL."""
    if config.public_base_url is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return config.public_base_url.rstrip("/") + request.url.path + query


@router.post("/{escalation_id}/twiml", openapi_extra=_FORM_BODY, responses=_TWIML)
async def transfer_twiml(
    escalation_id: UUID,
    request: Request,
    store: Store,
    config: Config,
    attempt: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    """Put the call leg through to the contact of the escalation's transfer attempt."""
    await signed_form(request, config)
    state = await escalations.load(store.pool, store.schema, escalation_id)
    found = transfer_attempt(state, attempt)
    if found is None:
        return _twiml(twilio.nobody(await _language(store, state)))
    return _twiml(twilio.dial(found.target, config.dial_timeout_seconds))


def transfer_attempt(state: Escalation | None, attempt: int | None) -> Dispatch | None:
    """The transfer attempt asked for, or the latest one; None when there is no such attempt."""
    if state is None:
        return None
    transfers = [
        d
        for d in state.dispatches
        if d.channel == "transfer" and (attempt is None or d.attempt == attempt)
    ]
    return transfers[-1] if transfers else None


async def _language(store: EventStore, state: Escalation | None) -> Language:
    if state is None:
        return directory.FALLBACK_LANGUAGE
    facts = await directory.client_facts(store.pool, store.schema, state.client_id)
    return facts.language if facts else directory.FALLBACK_LANGUAGE


def _twiml(body: str) -> Response:
    return Response(body, media_type=libtwilio.TWIML_MEDIA_TYPE)
