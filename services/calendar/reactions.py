"""What the calendar service does with the calls topic: keep each call's facts, and put
callers on the callback list.

A note whose follow-up is "call back" puts its caller on the list; so does a voicemail left
while the office was closed, when the client's book says after-hours callers are called back.
Each handler runs in the consumer's inbox transaction, so the callback's row and its events
commit together, once. In a replay nothing is decided anew.
"""

from __future__ import annotations

from functools import partial

import structlog

from libs.events.calls import CallReceived, NoteRecorded, VoicemailRecorded
from libs.events.catalogue import topic_for
from libs.platform.consumer import Handler, HandlerContext, Subscription, typed
from libs.platform.settings import Settings
from services.calendar import callbacks, directory, metrics

log = structlog.get_logger(__name__)


async def call_received(event: CallReceived, ctx: HandlerContext) -> None:
    """Keep whose call it is and who called (an imported call is history: kept as well)."""
    await directory.call_received(event, ctx.conn, ctx.store.schema)


async def note_recorded(event: NoteRecorded, ctx: HandlerContext) -> None:
    """A note asking for a call back puts the caller on the list."""
    if ctx.replay or event.follow_up != "call_back":
        return
    scheduled = await callbacks.schedule(
        ctx.conn, ctx.store.schema, ctx.emit, call_id=event.call_id, client_id=event.client_id,
        source="note", caller_number=event.caller_number, caller_name=event.caller_name,
        detail=event.follow_up_detail or event.message, asked_at=event.occurred_at,
        causation=event,
    )  # fmt: skip
    if scheduled is not None:
        ctx.after_commit(partial(metrics.CALLBACKS_SCHEDULED.labels("note").inc))
        log.info("callback.scheduled", call_id=str(event.call_id), due_at=str(scheduled.due_at))


async def voicemail_recorded(event: VoicemailRecorded, ctx: HandlerContext) -> None:
    """An after-hours voicemail puts the caller on the list where the book says so."""
    if ctx.replay:
        return
    schema = ctx.store.schema
    call = await directory.call_facts(ctx.conn, schema, event.call_id)
    facts = await directory.client_facts(ctx.conn, schema, event.client_id)
    if call is None or facts is None or call["office_open"] or facts.after_hours != "call_back":
        return
    scheduled = await callbacks.schedule(
        ctx.conn, schema, ctx.emit, call_id=event.call_id, client_id=event.client_id,
        source="voicemail", caller_number=call["caller_number"], caller_name="",
        detail=event.summary, asked_at=event.occurred_at, causation=event,
    )  # fmt: skip
    if scheduled is not None:
        ctx.after_commit(partial(metrics.CALLBACKS_SCHEDULED.labels("voicemail").inc))
        log.info("callback.scheduled", call_id=str(event.call_id), due_at=str(scheduled.due_at))


CALLS: dict[str, Handler] = {
    "CallReceived": typed(CallReceived, call_received),
    "NoteRecorded": typed(NoteRecorded, note_recorded),
    "VoicemailRecorded": typed(VoicemailRecorded, voicemail_recorded),
}


def subscriptions(settings: Settings) -> tuple[Subscription, ...]:
    """The calendar service's consumers: intake, the roster, and calls."""
    calls = Subscription(
        name=f"{settings.topic_prefix}-calendar-calls",
        topics=(topic_for("calls", settings.topic_prefix),),
        handlers=CALLS,
    )
    return (*directory.subscriptions(settings), calls)
