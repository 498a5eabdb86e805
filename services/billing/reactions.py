"""Billing's reactions to the events it consumes: intake, calls, notify and its own topic.

Every event billing folds is kept with its log position. Events that can make a punch card run
low (a call received, reported or restored, a plan change; topics arrive in any order) are
followed by a look at the balance; a PunchCardLow is emitted once per low spell, only outside
replays and only for recent events. Intake's API key events are kept too, in the platform's
`api_keys` table (so billing checks keys itself); they are no billing facts and no part of
billing's history, so neither a rebuild nor a dispute replay sees them.
"""

from __future__ import annotations

from datetime import timedelta

from libs.events.catalogue import topic_for
from libs.events.envelope import Event
from libs.platform import api_keys
from libs.platform.consumer import Handler, HandlerContext, Subscription
from libs.platform.settings import Settings
from services.billing import metrics
from services.billing.commands import punch_card_warning, stream_id
from services.billing.directory import record, record_own
from services.billing.settings import BillingSettings

INPUT_SERVICES = ("intake", "calls", "notify")
MAIL_RECORDS = frozenset({"InvoiceSent", "PaymentReminderSent"})
"""Billing's records of mail sent: kept and projected (invoice state), never folded into a bill."""
ADDRESSEE_RECORDS = frozenset({"BillingDetailsChanged"})
"""Whom the invoices are addressed to (from intake): kept and projected, never folded."""


def input_topics(prefix: str) -> tuple[str, ...]:
    """The topics of the services whose events billing folds (its own excluded)."""
    return tuple(topic_for(service, prefix) for service in INPUT_SERVICES)  # type: ignore[arg-type]


async def keep(event: Event, ctx: HandlerContext) -> None:
    """Record the event with the position it was read at."""
    await record(ctx.conn, ctx.store.schema, event, ctx.position)


def keep_and_watch_balance(window: timedelta) -> Handler:
    """Record the event, then warn if it left the client's punch card below its threshold."""

    async def handle(event: Event, ctx: HandlerContext) -> None:
        await keep(event, ctx)
        if ctx.replay or ctx.now() - event.occurred_at > window:
            return
        warning = await punch_card_warning(ctx.conn, ctx.store.schema, event.client_id, ctx.now())
        if warning is None:
            return
        warning = warning.model_copy(update=event.caused())
        await ctx.emit(stream_id(event.client_id), None, [warning])
        await record_own(ctx.conn, ctx.store.schema, [warning])
        metrics.documents_issued([warning])

    return handle


def reactions(billing: BillingSettings) -> dict[str, Handler]:
    """The handler of every event type billing folds."""
    watch = keep_and_watch_balance(timedelta(seconds=billing.low_balance_alert_window_seconds))
    return {
        "ClientRegistered": keep,
        "BillingDetailsChanged": keep,
        "PlanChanged": watch,
        "ClientOffboarded": keep,
        "CallReceived": watch,
        "CallMarkedNonBillable": keep,
        "CallBillabilityRestored": watch,
        "NotificationSent": watch,
        "InvoiceIssued": keep,
        "CreditNoteIssued": keep,
        "PunchCardToppedUp": keep,
        "PunchCardLow": keep,
        "PaymentRecorded": keep,
        "InvoiceSent": keep,
        "PaymentReminderSent": keep,
    }


def subscriptions(settings: Settings, billing: BillingSettings) -> tuple[Subscription, ...]:
    """One consumer over the input topics and billing's own topic (keeping API keys as well)."""
    topics = (*input_topics(settings.topic_prefix), topic_for("billing", settings.topic_prefix))
    # The group belongs to the projection's schema: a new schema is rebuilt from the start.
    name = f"{settings.topic_prefix}-billing-{settings.pg_schema}"
    return (Subscription(name, topics, handlers(billing)),)


def handlers(billing: BillingSettings) -> dict[str, Handler]:
    """Billing's reactions and the platform's API key keeping, for one subscription."""
    return {**reactions(billing), **api_keys.HANDLERS}
