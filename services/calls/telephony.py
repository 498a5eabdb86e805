"""Twilio's voice webhooks: a signed POST per call and per recording, answered in TwiML.

The signature is checked before anything is parsed or recorded. A call's id is derived from
its CallSid, so Twilio retrying a webhook never creates a second call.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Annotated, Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import libs.twilio as libtwilio
from libs.errors import DomainError, NotFound
from libs.events.envelope import Actor
from libs.events.values import ShortText
from libs.platform.http import Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.store import EventStore
from services.calls import directory, twilio
from services.calls.commands import execute
from services.calls.domain.commands import ReceiveCall, RecordVoicemail
from services.calls.domain.model import Call
from services.calls.settings import CallsSettings

M = TypeVar("M", bound=BaseModel)
router = APIRouter(prefix="/calls/twilio", tags=["telephony"], route_class=IdempotentRoute)
CALL_SID_NAMESPACE = uuid5(NAMESPACE_URL, "https://frontdesk/telephony/twilio/CallSid")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "CallSid": {"type": "string"},
                        "From": {"type": "string"},
                        "To": {"type": "string"},
                    },
                }
            }
        },
    },
    "parameters": [
        {
            "name": "X-Twilio-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
        }
    ],
}
_TWIML: dict[int | str, dict[str, Any]] = {
    200: {"content": {libtwilio.TWIML_MEDIA_TYPE: {}}, "description": "TwiML"}
}


class VoiceWebhook(BaseModel):
    """The Twilio parameters of an incoming call that calls uses."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    call_sid: str = Field(alias="CallSid", pattern=r"^[A-Za-z0-9]{2,64}$")
    to: str = Field(alias="To", pattern=_E164.pattern)
    caller: str = Field(default="", alias="From", max_length=200)


class RecordingWebhook(BaseModel):
    """The Twilio parameters of a finished voicemail recording."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    call_sid: str = Field(alias="CallSid", pattern=r"^[A-Za-z0-9]{2,64}$")
    recording_url: ShortText = Field(alias="RecordingUrl", min_length=1)
    duration: int = Field(default=0, alias="RecordingDuration", ge=0, le=86400)


Config = Annotated[CallsSettings, Depends(service_settings)]


def call_id_for(call_sid: str) -> UUID:
    """The call id of a Twilio call: the same CallSid always gives the same call."""
    return uuid5(CALL_SID_NAMESPACE, call_sid)


async def signed_form(request: Request, config: CallsSettings) -> dict[str, str]:
    """The POSTed parameters, once the X-Twilio-Signature proves they come from Twilio."""
    if config.twilio_auth_token is None:
        raise HTTPException(503, "the Twilio webhook is not configured (no auth token)")
    form = await request.form()
    params = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    url = public_url(request, config)
    token = config.twilio_auth_token.get_secret_value()
    if not libtwilio.signature_valid(
        token, url, params, request.headers.get(libtwilio.SIGNATURE_HEADER)
    ):
        raise HTTPException(403, "invalid or missing X-Twilio-Signature")
    return dict(params)


def public_url(request: Request, config: CallsSettings) -> str:
    """The URL Twilio posted to: the configured public base, or the request's own URL."""
    if config.public_base_url is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return config.public_base_url.rstrip("/") + request.url.path + query


@router.post("/voice", openapi_extra=_FORM_BODY, responses=_TWIML, dependencies=[Idempotent])
async def voice(request: Request, rt: Runtime, store: Store, config: Config) -> Response:
    """An incoming call: record it once, then queue it for an operator or take a voicemail."""
    hook = _parse(VoiceWebhook, await signed_form(request, config))
    now = rt.clock.now()
    command = ReceiveCall(
        call_id=call_id_for(hook.call_sid),
        at=now,
        actor=Actor(kind="telephony", id=f"twilio:{hook.call_sid}"),
        dialled_number=hook.to,
        caller_number=hook.caller if _E164.match(hook.caller) else None,
        received_at=now,
    )
    try:
        outcome = await execute(store, command)
    except NotFound:
        return _twiml(twilio.reject())
    return _twiml(await _route(store, request, config, outcome.call))


async def _route(store: EventStore, request: Request, config: CallsSettings, call: Call) -> str:
    """Open office: the operators' queue for the client's language; closed: voicemail."""
    card = await directory.client_card(store.pool, store.schema, call.client_id, None)
    if card is None:
        return twilio.reject()
    if call.office_open:
        return twilio.to_operators(f"{config.operator_queue}-{card.language}")
    return twilio.to_voicemail(
        card.name, card.language, _recording_url(request, config), config.voicemail_max_seconds
    )


def _recording_url(request: Request, config: CallsSettings) -> str:
    if config.public_base_url is None:
        return str(request.url_for("recording"))
    return config.public_base_url.rstrip("/") + router.prefix + "/recording"


@router.post("/recording", openapi_extra=_FORM_BODY, responses=_TWIML, dependencies=[Idempotent])
async def recording(request: Request, rt: Runtime, store: Store, config: Config) -> Response:
    """A voicemail recording finished: record it on the call (once), then hang up."""
    hook = _parse(RecordingWebhook, await signed_form(request, config))
    command = RecordVoicemail(
        call_id=call_id_for(hook.call_sid),
        at=rt.clock.now(),
        actor=Actor(kind="telephony", id=f"twilio:{hook.call_sid}"),
        recording_ref=hook.recording_url,
        duration_seconds=hook.duration,
    )
    with suppress(DomainError):  # a retried webhook, or an unknown call: hang up all the same
        await execute(store, command)
    return _twiml(twilio.hang_up())


def _parse(model: type[M], params: dict[str, str]) -> M:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from exc


def _twiml(body: str) -> Response:
    return Response(body, media_type=libtwilio.TWIML_MEDIA_TYPE)
