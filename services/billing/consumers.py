"""Billing's consumer: the intake, calls, notify and billing topics into its projection.

Every event billing folds is kept with its log position. Events that can make a punch card run
low (a call received, reported or restored, a plan change; topics arrive in any order) are
followed by a look at the balance; a
PunchCardLow is emitted once per low spell, only outside replays and only for recent events.
"""

from __future__ import annotations

from datetime import timedelta

from libs.events.catalogue import topic_for
from libs.events.envelope import Event
from libs.platform.consumer import Handler, HandlerContext, Subscription
from libs.platform.settings import Settings
from services.billing import metrics
from services.billing.domain import BILLING_INPUTS, low_balance_warning
from services.billing.projections import (
    is_punch_card_client,
    load_client,
    lock_client,
    record,
    record_own,
    stream_id,
)
from services.billing.settings import BillingSettings

INPUT_SERVICES = ("intake", "calls", "notify")
MAY_RUN_LOW = ("CallReceived", "NotificationSent", "CallBillabilityRestored", "PlanChanged")


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
        schema = ctx.store.schema
        if not await is_punch_card_client(ctx.conn, schema, event.client_id):
            return
        await lock_client(ctx.conn, schema, event.client_id)
        client, _ = await load_client(ctx.conn, schema, event.client_id, ())
        warning = low_balance_warning(client, ctx.now())
        if warning is None:
            return
        warning = warning.model_copy(update=event.caused())
        await ctx.emit(stream_id(event.client_id), None, [warning])
        await record_own(ctx.conn, schema, [warning])
        metrics.documents_issued([warning])

    return handle


def subscriptions(settings: Settings, billing: BillingSettings) -> tuple[Subscription, ...]:
    """One consumer over the input topics and billing's own topic."""
    window = timedelta(seconds=billing.low_balance_alert_window_seconds)
    watching = keep_and_watch_balance(window)
    handlers: dict[str, Handler] = {
        name: watching if name in MAY_RUN_LOW else keep for name in sorted(BILLING_INPUTS)
    }
    topics = (*input_topics(settings.topic_prefix), topic_for("billing", settings.topic_prefix))
    # The group belongs to the projection's schema: a new schema is rebuilt from the start.
    name = f"{settings.topic_prefix}-billing-{settings.pg_schema}"
    return (Subscription(name, topics, handlers),)
