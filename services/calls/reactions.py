"""Calls' reactions to intake's and calendar's events: keep what calls knows of their facts.

One handler per intake event type calls keeps, registered in HANDLERS: the directory's, and
the API keys intake issues and revokes (libs.platform.api_keys), so calls checks a key on its
own; the others (plans, notification preferences) it ignores. The client info gauge follows
the directory's clients: loaded at start, then after each client event commits.

One handler per calendar event type the screen pop needs, registered in CALENDAR: each
client's linked calendar and its last reading (services/calls/calendars.py); appointments
and callbacks it ignores.

From the inbox, calls keeps the callers' announced mails the inbox found (INBOX), proposed as
not billable until someone confirms (services/calls/follow_ups.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from libs.events.calendar import (
    CalendarLinked,
    CalendarObserved,
    CalendarPermissionChanged,
    CalendarUnlinked,
    CalendarUnreachable,
)
from libs.events.catalogue import topic_for
from libs.events.envelope import Event
from libs.events.inbox import AnnouncedMailFound
from libs.events.intake import (
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    NumberAssigned,
    NumberReleased,
    OfficeHoursChanged,
    SecretaryBookRevised,
)
from libs.platform import api_keys
from libs.platform import directory as shared_directory
from libs.platform.consumer import Handler, HandlerContext, Subscription, projecting, typed
from libs.platform.db import Connection
from libs.platform.runtime import ServiceRuntime
from libs.platform.settings import Settings
from services.calls import calendars, directory, follow_ups, metrics

E = TypeVar("E", bound=Event)


def showing_client(
    cls: type[E], apply: Callable[[E, Connection, str], Awaitable[None]]
) -> tuple[str, Handler]:
    """(event type, handler) for a client step after which the client info gauge follows."""

    async def project(event: E, ctx: HandlerContext) -> None:
        await apply(event, ctx.conn, ctx.store.schema)
        company = await directory.shown_name(ctx.conn, ctx.store.schema, event.client_id)
        ctx.after_commit(partial(metrics.show_client, event.client_id, company))

    return str(cls.model_fields["type"].default), typed(cls, project)


async def show_clients(runtime: ServiceRuntime) -> None:
    """Put every client that has not left on the client info gauge (at start)."""
    store = runtime.require_store()
    for client_id, name in await directory.shown_clients(store.pool, store.schema):
        metrics.show_client(client_id, name)


DIRECTORY: dict[str, Handler] = dict(
    [
        showing_client(ClientRegistered, directory.client_registered),
        showing_client(ClientActivated, directory.client_activated),
        showing_client(ClientOffboarded, directory.client_offboarded),
        projecting(OfficeHoursChanged, shared_directory.office_hours_changed),
        projecting(NumberAssigned, directory.number_assigned),
        projecting(NumberReleased, directory.number_released),
        projecting(SecretaryBookRevised, directory.book_revised),
    ]
)
"""The intake events the directory keeps, by type."""
HANDLERS: dict[str, Handler] = {**DIRECTORY, **api_keys.HANDLERS}
"""The intake events calls keeps, by type; the others (plan, notifications) it ignores."""
CALENDAR: dict[str, Handler] = dict(
    [
        projecting(CalendarLinked, calendars.calendar_linked),
        projecting(CalendarPermissionChanged, calendars.permission_changed),
        projecting(CalendarUnlinked, calendars.calendar_unlinked),
        projecting(CalendarObserved, calendars.calendar_observed),
        projecting(CalendarUnreachable, calendars.calendar_unreachable),
    ]
)
"""The calendar events calls keeps, by type; appointments and callbacks it ignores."""
INBOX: dict[str, Handler] = dict([projecting(AnnouncedMailFound, follow_ups.announced_mail_found)])
"""The inbox events calls keeps: callers' announced mails found (the rest it ignores)."""


def subscriptions(settings: Settings) -> tuple[Subscription, ...]:
    """Calls' consumers: intake's topic (the directory and the API keys), calendar's and
    inbox's."""
    return (
        Subscription(
            name=f"{settings.topic_prefix}-calls-directory",
            topics=(topic_for("intake", settings.topic_prefix),),
            handlers=HANDLERS,
        ),
        Subscription(
            name=f"{settings.topic_prefix}-calls-calendar",
            topics=(topic_for("calendar", settings.topic_prefix),),
            handlers=CALENDAR,
        ),
        Subscription(
            name=f"{settings.topic_prefix}-calls-inbox",
            topics=(topic_for("inbox", settings.topic_prefix),),
            handlers=INBOX,
        ),
    )
