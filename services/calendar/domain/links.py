"""A client's linked calendar: which one, what the bureau may do with it, what it showed.

Linking, a change of permission and unlinking are decided here; so is whether a fresh read
of the calendar is worth recording (it differs from the last one, or the last one is getting
old). Pure: the caller supplies the instant and the read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from libs.errors import Conflict, NotFound
from libs.events.calendar import (
    BusySpan,
    CalendarLinked,
    CalendarObserved,
    CalendarPermissionChanged,
    CalendarUnlinked,
    CallbackBlock,
    Permission,
    Provider,
)
from libs.events.envelope import Actor


@dataclass(frozen=True)
class Link:
    """What is known of a client's linked calendar (its credentials are kept elsewhere)."""

    client_id: UUID
    provider: Provider
    calendar: str
    account: str
    permission: Permission
    show_titles: bool
    callback_block: CallbackBlock | None
    linked: bool = True

    @property
    def writable(self) -> bool:
        """Whether the client allowed the bureau to make appointments."""
        return self.linked and self.permission == "write"


@dataclass(frozen=True)
class LinkCalendar:
    """Link a calendar (again: a new link replaces the previous one)."""

    client_id: UUID
    at: datetime
    actor: Actor
    provider: Provider
    calendar: str
    account: str
    permission: Permission
    show_titles: bool
    callback_block: CallbackBlock | None = None


@dataclass(frozen=True)
class ChangePermission:
    """Change what the bureau may do, what operators see, or the reserved block."""

    client_id: UUID
    at: datetime
    actor: Actor
    permission: Permission
    show_titles: bool
    callback_block: CallbackBlock | None


@dataclass(frozen=True)
class Unlink:
    """Unlink the calendar (its credentials are destroyed with it)."""

    client_id: UUID
    at: datetime
    actor: Actor


LinkCommand = LinkCalendar | ChangePermission | Unlink
LinkEvent = CalendarLinked | CalendarPermissionChanged | CalendarUnlinked


def decide(command: LinkCommand, link: Link | None) -> list[LinkEvent]:
    """The events a link command records; NotFound when there is no link to change."""
    envelope = {"client_id": command.client_id, "occurred_at": command.at, "actor": command.actor}
    if isinstance(command, LinkCalendar):
        return [
            CalendarLinked(
                **envelope,
                provider=command.provider,
                calendar=command.calendar,
                account=command.account,
                permission=command.permission,
                show_titles=command.show_titles,
                callback_block=command.callback_block,
            )
        ]
    if link is None or not link.linked:
        raise NotFound(f"client {command.client_id} has no linked calendar")
    if isinstance(command, Unlink):
        return [CalendarUnlinked(**envelope)]
    unchanged = (
        link.permission == command.permission
        and link.show_titles == command.show_titles
        and link.callback_block == command.callback_block
    )
    if unchanged:
        return []
    return [
        CalendarPermissionChanged(
            **envelope,
            permission=command.permission,
            show_titles=command.show_titles,
            callback_block=command.callback_block,
        )
    ]


def apply(link: Link | None, event: LinkEvent) -> Link | None:
    """The link after one of its events."""
    if isinstance(event, CalendarLinked):
        return Link(
            client_id=event.client_id,
            provider=event.provider,
            calendar=event.calendar,
            account=event.account,
            permission=event.permission,
            show_titles=event.show_titles,
            callback_block=event.callback_block,
        )
    if link is None:
        return None
    if isinstance(event, CalendarUnlinked):
        return Link(**{**link.__dict__, "linked": False})
    return Link(
        **{
            **link.__dict__,
            "permission": event.permission,
            "show_titles": event.show_titles,
            "callback_block": event.callback_block,
        }
    )


def require_writable(link: Link | None) -> Link:
    """The link if the bureau may write appointments into it; Conflict (or NotFound) if not."""
    if link is None or not link.linked:
        raise NotFound("the client has no linked calendar")
    if not link.writable:
        raise Conflict(
            "the client's calendar is linked read-only: propose times to the caller instead"
        )
    return link


def digest(spans: Sequence[BusySpan]) -> str:
    """A fingerprint of what a read showed, to tell a changed calendar from an unchanged one."""
    text = json.dumps([span.model_dump(mode="json") for span in spans], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def worth_recording(
    spans: Sequence[BusySpan],
    *,
    last_digest: str,
    last_recorded_at: datetime | None,
    now: datetime,
    heartbeat: timedelta,
    was_unreachable: bool,
) -> bool:
    """Record a read when it differs, when the calendar is back, or when the last is old."""
    if was_unreachable or last_recorded_at is None or digest(spans) != last_digest:
        return True
    return now - last_recorded_at >= heartbeat


def observation(
    link: Link, now: datetime, window_end: datetime, spans: Sequence[BusySpan]
) -> CalendarObserved:
    """The event recording a read; titles only where the client allows operators to see them."""
    shown = spans if link.show_titles else [span.model_copy(update={"title": ""}) for span in spans]
    return CalendarObserved(
        client_id=link.client_id,
        occurred_at=now,
        read_at=now,
        window_start=now,
        window_end=window_end,
        busy=tuple(sorted(shown, key=lambda s: (s.start, s.end)))[:200],
    )
