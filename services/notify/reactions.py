"""Reactions to other services' events: keep notify's tables and queue what the domain decides.

The inbox's conversation events come through a third subscription and only keep a table
for the digest: a digest reads it when it runs, nothing is queued when a mail is handled.

The calendar's appointment events come through a subscription of their own and race the
calls' notes; both paths take the client's planning lock before they read what was reported,
so an appointment is either in the call's message or, when that went out first, in a
follow-up (per_call) or the next digest (daily_digest), never in neither.

Each runs in the consumer's inbox transaction, so a queued notification commits together
with the event being marked as handled. In a replay (ctx.replay) the tables are rebuilt but
nothing is queued: every notification of the past exists already, or was never meant to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from libs.events.calendar import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentMoved,
    AppointmentProposed,
)
from libs.events.calls import CallReceived, EscalationRequested, NoteRecorded, VoicemailRecorded
from libs.events.catalogue import topic_for
from libs.events.envelope import Event
from libs.events.inbox import (
    AnswerUndeliverable,
    ConversationEscalated,
    ConversationEvent,
    ConversationForwarded,
    ConversationHandled,
    ConversationMarkedSpam,
    ConversationOpened,
    MailReceived,
    ReplySent,
)
from libs.events.intake import (
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    NotificationPreferencesChanged,
    NumberAssigned,
    NumberReleased,
    OfficeHoursChanged,
    SecretaryBookRevised,
)
from libs.events.routing import EscalationDispatched
from libs.events.values import OfficeHours
from libs.platform import api_keys
from libs.platform.consumer import Handler, HandlerContext, Subscription
from libs.platform.settings import Settings
from services.notify import directory, outbox, read_model, welcome
from services.notify.domain import appointments, filters, mail, model, plan
from services.notify.domain.model import Client
from services.notify.notifier import Notifier

E = TypeVar("E", bound=Event)
Apply = Callable[[Any, HandlerContext, Notifier], Awaitable[None]]


async def client_registered(event: ClientRegistered, ctx: HandlerContext, n: Notifier) -> None:
    """A new client; per-call messages that arrived before it are sent now."""
    client = model.client_registered(event)
    await directory.save_client(ctx.conn, ctx.store.schema, client, event.occurred_at)
    if not ctx.replay:
        await _catch_up(ctx, n, client)


async def numbers_changed(event: Event, ctx: HandlerContext, _: Notifier) -> None:
    """A number given to the client or taken back: the welcome names the client's numbers."""
    assert isinstance(event, NumberAssigned | NumberReleased)
    await welcome.number_changed(event, ctx.conn, ctx.store.schema)


async def book_revised(event: SecretaryBookRevised, ctx: HandlerContext, _: Notifier) -> None:
    """A new version of the book: the welcome says what counts as urgent."""
    await welcome.book_revised(event, ctx.conn, ctx.store.schema)


async def client_activated(event: ClientActivated, ctx: HandlerContext, n: Notifier) -> None:
    """The client may forward now: its welcome mail, with its number and the codes to dial."""
    if ctx.replay:
        return
    conn, schema = ctx.conn, ctx.store.schema
    client = await directory.load_client(conn, schema, event.client_id)
    numbers = await welcome.numbers_of(conn, schema, event.client_id)
    urgent = await welcome.urgent_of(conn, schema, event.client_id)
    variants = await welcome.variants(conn, schema)
    mails = plan.on_activation(client, event.event_id, numbers, variants, urgent)
    await outbox.queue(conn, schema, n, mails, ctx.now())


async def client_changed(event: Event, ctx: HandlerContext, n: Notifier) -> None:
    """New preferences, office hours, or the client left; a switch to per_call catches up."""
    client = await directory.load_client(ctx.conn, ctx.store.schema, event.client_id)
    if client is None:
        return
    client = model.evolve_client(client, event)
    await directory.save_client(ctx.conn, ctx.store.schema, client, event.occurred_at)
    if isinstance(event, NotificationPreferencesChanged) and not ctx.replay:
        await _catch_up(ctx, n, client)


async def call_received(event: CallReceived, ctx: HandlerContext, _: Notifier) -> None:
    """A call arrived; its time and the office state decide when its message goes out."""
    known = await read_model.load_call(ctx.conn, ctx.store.schema, event.call_id)
    call = model.received(known, event)
    if call is not None:
        await read_model.save_call(ctx.conn, ctx.store.schema, call)


async def message_recorded(event: Event, ctx: HandlerContext, n: Notifier) -> None:
    """A note or voicemail: keep it, and mail it now when the client wants one per call."""
    schema = ctx.store.schema
    await outbox.lock_client(ctx.conn, schema, event.client_id)
    client = await directory.load_client(ctx.conn, schema, event.client_id)
    call = await read_model.load_call(ctx.conn, schema, _call_id(event))
    hours = client.office_hours if client else OfficeHours()
    call = model.evolve_call(call, event, hours)
    await read_model.save_call(ctx.conn, schema, call)
    if not ctx.replay:
        await outbox.queue(ctx.conn, schema, n, plan.on_message(client, call), ctx.now())


async def escalation_requested(
    event: EscalationRequested, ctx: HandlerContext, _: Notifier
) -> None:
    """Keep why the call was escalated: the attempts' messages say it."""
    await read_model.save_escalation(ctx.conn, ctx.store.schema, plan.escalation_requested(event))


async def escalation_dispatched(
    event: EscalationDispatched, ctx: HandlerContext, n: Notifier
) -> None:
    """Routing tries a contact over SMS, chat or e-mail: queue that message, about the urgent
    call or about the overdue mail (as the inbox subscription keeps its conversation)."""
    if ctx.replay:
        return
    conn, schema = ctx.conn, ctx.store.schema
    client = await directory.load_client(conn, schema, event.client_id)
    why = await read_model.load_escalation(conn, schema, event.escalation_id)
    call = await read_model.load_call(conn, schema, event.call_id) if event.call_id else None
    mail = event.conversation_id
    conversation = await read_model.load_conversation(conn, schema, mail) if mail else None
    alert = plan.escalation(event, client, why, call, n.ack_url(event), conversation)
    if alert is not None:
        await outbox.queue(ctx.conn, schema, n, [alert], ctx.now())


async def appointment_changed(event: AppointmentEvent, ctx: HandlerContext, n: Notifier) -> None:
    """An appointment booked, moved, cancelled or proposed from a call: keep it, and mail the
    news now when the call's message went out without it (else that message will carry it)."""
    schema = ctx.store.schema
    await outbox.lock_client(ctx.conn, schema, event.client_id)
    known = await read_model.load_appointment(ctx.conn, schema, event.appointment_id)
    appointment = appointments.evolve(known, event)
    if appointment is known:
        return
    await read_model.save_appointment(ctx.conn, schema, appointment)
    if ctx.replay:
        return
    client = await directory.load_client(ctx.conn, schema, event.client_id)
    call = await read_model.load_call(ctx.conn, schema, event.call_id)
    follow_up = plan.on_appointment(client, call, appointment, event.event_id)
    await outbox.queue(ctx.conn, schema, n, follow_up, ctx.now())


async def conversation_changed(event: ConversationEvent, ctx: HandlerContext, _: Notifier) -> None:
    """A mail came in or the bureau acted on it: keep it for the client's next digest."""
    schema = ctx.store.schema
    known = await read_model.load_conversation(ctx.conn, schema, event.conversation_id)
    conversation = mail.evolve(known, event)
    if conversation != known:
        await read_model.save_conversation(ctx.conn, schema, conversation)


async def _catch_up(ctx: HandlerContext, n: Notifier, client: Client) -> None:
    """Per-call mails for a client's recent unreported messages (just known or switched)."""
    if not filters.wants_mail_now(client):
        return
    conn, schema, now = ctx.conn, ctx.store.schema, ctx.now()
    await outbox.lock_client(conn, schema, client.client_id)
    calls = await read_model.unreported_calls(conn, schema, client.client_id, filters.recent(now))
    await outbox.queue(conn, schema, n, plan.catch_up(client, calls, now), now)


def _call_id(event: Event) -> UUID:
    if not isinstance(event, NoteRecorded | VoicemailRecorded):
        raise TypeError(f"{event.type} records no message")
    return event.call_id


def _typed(cls: type[E], apply: Apply) -> tuple[str, Apply]:
    async def handle(event: Event, ctx: HandlerContext, n: Notifier) -> None:
        if not isinstance(event, cls):
            raise TypeError(f"expected {cls.__name__}, got {event.type}")
        await apply(event, ctx, n)

    return str(cls.model_fields["type"].default), handle


HANDLERS: dict[str, Apply] = dict(
    [
        _typed(ClientRegistered, client_registered),
        _typed(NotificationPreferencesChanged, client_changed),
        _typed(OfficeHoursChanged, client_changed),
        _typed(ClientOffboarded, client_changed),
        _typed(ClientActivated, client_activated),
        _typed(NumberAssigned, numbers_changed),
        _typed(NumberReleased, numbers_changed),
        _typed(SecretaryBookRevised, book_revised),
        _typed(CallReceived, call_received),
        _typed(NoteRecorded, message_recorded),
        _typed(VoicemailRecorded, message_recorded),
        _typed(EscalationRequested, escalation_requested),
        _typed(EscalationDispatched, escalation_dispatched),
    ]
)
"""The events of intake, calls and routing notify handles, by type; it ignores the others."""

CALENDAR_HANDLERS: dict[str, Apply] = dict(
    [
        _typed(AppointmentBooked, appointment_changed),
        _typed(AppointmentMoved, appointment_changed),
        _typed(AppointmentCancelled, appointment_changed),
        _typed(AppointmentProposed, appointment_changed),
    ]
)
"""The calendar's events notify handles: those of appointments made from calls."""

INBOX_HANDLERS: dict[str, Apply] = dict(
    [
        _typed(ConversationOpened, conversation_changed),
        _typed(MailReceived, conversation_changed),
        _typed(ReplySent, conversation_changed),
        _typed(ConversationForwarded, conversation_changed),
        _typed(ConversationHandled, conversation_changed),
        _typed(ConversationMarkedSpam, conversation_changed),
        _typed(ConversationEscalated, conversation_changed),
        _typed(AnswerUndeliverable, conversation_changed),
    ]
)
"""The inbox's events notify handles: the conversations a digest lists as mail handled."""


def bind(notifier: Notifier, handlers: Mapping[str, Apply] = HANDLERS) -> dict[str, Handler]:
    """The handlers with the notifier they share."""

    def bound(apply: Apply) -> Handler:
        async def handle(event: Event, ctx: HandlerContext) -> None:
            await apply(event, ctx, notifier)

        return handle

    return {name: bound(apply) for name, apply in handlers.items()}


def subscriptions(settings: Settings, notifier: Notifier) -> tuple[Subscription, ...]:
    """Notify's subscriptions: intake's clients and API keys, calls' messages and routing's
    escalations in one; the calendar's appointments and the inbox's conversations each in
    another, their own consumer groups, so that their backlog never holds up the calls' mails."""
    prefix = settings.topic_prefix
    return (
        Subscription(
            name=f"{prefix}-notify",
            topics=tuple(topic_for(s, prefix) for s in ("intake", "calls", "routing")),
            handlers={**bind(notifier), **api_keys.HANDLERS},
        ),
        Subscription(
            name=f"{prefix}-notify-calendar",
            topics=(topic_for("calendar", prefix),),
            handlers=bind(notifier, CALENDAR_HANDLERS),
        ),
        Subscription(
            name=f"{prefix}-notify-inbox",
            topics=(topic_for("inbox", prefix),),
            handlers=bind(notifier, INBOX_HANDLERS),
        ),
    )
