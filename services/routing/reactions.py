"""What routing does with the calls topic: route each call, follow operators, start escalations;
and with the inbox topic: escalate an overdue mail conversation along the client's latest book,
and stop that chain (acknowledged by "desk") once the bureau replied, forwarded, handled or
marked the conversation as spam. The calendar's callbacks and the inbox's assignments feed the
operators' feed (feed.py).

Each handler runs inside the consumer's inbox transaction, so its table writes and the events
it emits (ctx.emit) commit together, exactly once. In a replay routing decides nothing anew:
routes and escalations are facts already recorded, and re-deciding them would differ.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import structlog

from libs.events.calls import (
    CallAnswered,
    CallEnded,
    CallReceived,
    CallTransferred,
    EscalationRequested,
)
from libs.events.catalogue import topic_for
from libs.events.inbox import (
    ConversationEscalated,
    ConversationEvent,
    ConversationForwarded,
    ConversationHandled,
    ConversationMarkedSpam,
    ReplySent,
)
from libs.platform.consumer import Handler, HandlerContext, Subscription, typed
from libs.platform.settings import Settings
from services.routing import commands, directory, escalations, feed, links, metrics, read_model
from services.routing.domain.operators import TakeCall
from services.routing.domain.route import RouteCall, route, routed_at_all
from services.routing.settings import RoutingSettings

log = structlog.get_logger(__name__)


async def call_received(event: CallReceived, ctx: HandlerContext) -> None:
    """Route the call: voicemail when closed or nobody fits, else the operator idle longest.

    An imported call (history staff brought in) is not routed: nobody is on it now.
    """
    conn, schema = ctx.conn, ctx.store.schema
    if ctx.replay or not routed_at_all(event):
        return
    if await read_model.routed_already(conn, schema, event.call_id):
        return
    facts = await directory.client_facts(conn, schema, event.client_id)
    if facts is None:
        log.warning("routing.client_unknown", call_id=str(event.call_id))
    command = RouteCall(
        call=event,
        at=ctx.now(),
        client_language=facts.language if facts else directory.FALLBACK_LANGUAGE,
        office_hours=facts.office_hours if facts else None,
        operators=await read_model.available(conn, schema),
    )
    [routed] = route(command)
    await ctx.emit(read_model.route_stream(event.call_id), 0, [routed])
    await feed.project(conn, schema, [routed])
    if routed.operator_id is not None:
        taken = TakeCall(operator_id=routed.operator_id, at=command.at, call_id=event.call_id)
        await commands.roster_step(conn, schema, ctx.emit, taken)
    await read_model.record_route(conn, schema, event, routed)
    ctx.after_commit(partial(metrics.routed, routed, command.client_language))
    log.info("call.routed", call_id=str(event.call_id), destination=routed.destination)


async def call_answered(event: CallAnswered, ctx: HandlerContext) -> None:
    """Whoever answered is busy with the call; anyone else routing held for it is free."""
    if ctx.replay:
        return
    now, schema = ctx.now(), ctx.store.schema
    taken = TakeCall(operator_id=event.operator_id, at=now, call_id=event.call_id)
    await commands.roster_step(ctx.conn, schema, ctx.emit, taken)
    await commands.release_call(
        ctx.conn, schema, ctx.emit, event.call_id, now, keep=event.operator_id
    )


async def call_released(event: CallEnded | CallTransferred, ctx: HandlerContext) -> None:
    """The call ended or was put through: its operator is free again."""
    if not ctx.replay:
        await commands.release_call(ctx.conn, ctx.store.schema, ctx.emit, event.call_id, ctx.now())


async def escalation_requested(
    event: EscalationRequested, ctx: HandlerContext, *, config: RoutingSettings
) -> None:
    """Record the request with its timer and make the first attempt of the chain now."""
    conn, schema, now = ctx.conn, ctx.store.schema, ctx.now()
    book_wait = timedelta(seconds=config.book_wait_seconds)
    if ctx.replay or not await escalations.open_request(conn, schema, event, now, book_wait):
        return
    ctx.after_commit(metrics.requested)
    emit = links.stamping(config, ctx.emit)
    outcome = await commands.advance(conn, schema, event.escalation_id, now, emit)
    ctx.after_commit(partial(commands.recorded, outcome))


async def conversation_escalated(
    event: ConversationEscalated, ctx: HandlerContext, *, config: RoutingSettings
) -> None:
    """An overdue answer: open its escalation (once per conversation and due time) and make
    the first attempt of the chain now, from the client's latest book. The operators who read
    its language see it in their feed."""
    conn, schema, now = ctx.conn, ctx.store.schema, ctx.now()
    await feed.conversation_escalated(event, ctx)
    if ctx.replay:
        return
    escalation_id = await escalations.open_overdue_mail(conn, schema, event, now)
    if escalation_id is None:
        return
    ctx.after_commit(partial(metrics.requested, "mail"))
    emit = links.stamping(config, ctx.emit)
    outcome = await commands.advance(conn, schema, escalation_id, now, emit)
    ctx.after_commit(partial(commands.recorded, outcome))


async def conversation_answered(event: ConversationEvent, ctx: HandlerContext) -> None:
    """The bureau acted on the mail: its open escalations are acknowledged by the desk."""
    if ctx.replay:
        return
    outcomes = await commands.desk_answered(
        ctx.conn, ctx.store.schema, event.client_id, event.conversation_id, ctx.now(),
        event.actor, ctx.emit,
    )  # fmt: skip
    for outcome in outcomes:
        ctx.after_commit(partial(commands.recorded, outcome))


def inbox_handlers(config: RoutingSettings) -> dict[str, Handler]:
    """The inbox events routing acts on, by type: an overdue answer, the desk's answers, and
    what the operators' feed keeps."""
    escalated = partial(conversation_escalated, config=config)
    return {
        **feed.INBOX_HANDLERS,
        "ConversationEscalated": typed(ConversationEscalated, escalated),
        "ReplySent": typed(ReplySent, conversation_answered),
        "ConversationForwarded": typed(ConversationForwarded, conversation_answered),
        "ConversationHandled": typed(ConversationHandled, conversation_answered),
        "ConversationMarkedSpam": typed(ConversationMarkedSpam, conversation_answered),
    }


def calls_handlers(config: RoutingSettings) -> dict[str, Handler]:
    """The calls events routing acts on, by type; the others it ignores."""
    return {
        "CallReceived": typed(CallReceived, call_received),
        "CallAnswered": typed(CallAnswered, call_answered),
        "CallTransferred": typed(CallTransferred, call_released),
        "CallEnded": typed(CallEnded, call_released),
        "EscalationRequested": typed(
            EscalationRequested, partial(escalation_requested, config=config)
        ),
    }


def subscriptions(settings: Settings, config: RoutingSettings) -> tuple[Subscription, ...]:
    """Routing's consumers: its projection of intake, its reactions to calls and to the inbox,
    and the calendar's callbacks for the operators' feed."""
    prefix = settings.topic_prefix
    calls = Subscription(
        name=f"{prefix}-routing-calls",
        topics=(topic_for("calls", prefix),),
        handlers=calls_handlers(config),
    )
    inbox = Subscription(
        name=f"{prefix}-routing-inbox",
        topics=(topic_for("inbox", prefix),),
        handlers=inbox_handlers(config),
    )
    calendar = Subscription(
        name=f"{prefix}-routing-calendar",
        topics=(topic_for("calendar", prefix),),
        handlers=feed.CALENDAR_HANDLERS,
    )
    return (directory.subscription(settings), calls, inbox, calendar)
