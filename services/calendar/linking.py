"""Linked calendars in the calendar service's table, their sealed credentials and adapters.

The credential a client gives (a CalDAV app password, a Google OAuth refresh token) is
sealed with the service's secret keys, bound to the client (libs/platform/sealed.py), and
kept only in the `links` row: never in an event, a log line or an answer. Unlinking
destroys it. A CalDAV URL must be https and lead to a public address (unless the settings
allow a host), checked whenever the calendar is used.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from libs.errors import Rejected
from libs.events.calendar import CallbackBlock
from libs.events.catalogue import decode
from libs.platform.db import Connection
from libs.platform.outbound import OutboundRefused, checked_address
from libs.platform.sealed import SecretBox, SecretUnreadable
from services.calendar.adapters.caldav_calendar import CalDavCalendar
from services.calendar.adapters.google_calendar import GoogleCalendar
from services.calendar.adapters.port import CalendarPort, CalendarUnavailable
from services.calendar.directory import Queryable
from services.calendar.domain import links
from services.calendar.domain.links import Link, LinkEvent
from services.calendar.settings import CalendarSettings


def stream(client_id: UUID) -> str:
    """The stream of a client's link events."""
    return f"calendar-{client_id}"


def observations_stream(client_id: UUID) -> str:
    """The stream of what a client's calendar showed when read."""
    return f"calendar-observed-{client_id}"


def secret_context(client_id: UUID) -> str:
    """What a sealed credential is bound to: it opens for this client's link only."""
    return f"calendar-credential:{client_id}"


def link_of(row: asyncpg.Record | None) -> Link | None:
    """The link a row holds (None for no row)."""
    if row is None:
        return None
    block = row["callback_block"]
    return Link(
        client_id=row["client_id"],
        provider=row["provider"],
        calendar=row["calendar"],
        account=row["account"],
        permission=row["permission"],
        show_titles=row["show_titles"],
        callback_block=CallbackBlock.model_validate_json(block) if block else None,
        linked=row["linked"],
    )


async def lock(conn: Connection, schema: str, client_id: UUID) -> asyncpg.Record | None:
    """The client's link row, locked until the transaction ends."""
    return await conn.fetchrow(
        f"SELECT * FROM {schema}.links WHERE client_id = $1 FOR UPDATE", client_id
    )


async def get(db: Queryable, schema: str, client_id: UUID) -> asyncpg.Record | None:
    """The client's link row, or None."""
    return await db.fetchrow(f"SELECT * FROM {schema}.links WHERE client_id = $1", client_id)


async def save(
    conn: Connection,
    schema: str,
    row: asyncpg.Record | None,
    events: list[LinkEvent],
    now: datetime,
    sealed_secret: str | None,
) -> asyncpg.Record | None:
    """Write the row after a link command's events (appended by the caller at row version)."""
    link = link_of(row)
    for event in events:
        link = links.apply(link, event)
    if link is None:
        return row
    version = (row["version"] if row else 0) + len(events)
    block = link.callback_block.model_dump_json() if link.callback_block else None
    relinked = bool(events) and events[0].type == "CalendarLinked"
    secret = sealed_secret if relinked else (row["secret"] if row and link.linked else None)
    return await conn.fetchrow(
        f"INSERT INTO {schema}.links AS l (client_id, version, linked, provider, calendar, "
        "account, permission, show_titles, callback_block, secret, linked_at, updated_at, "
        "next_read_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $11, $11) "
        "ON CONFLICT (client_id) DO UPDATE SET version = EXCLUDED.version, "
        "linked = EXCLUDED.linked, provider = EXCLUDED.provider, calendar = EXCLUDED.calendar, "
        "account = EXCLUDED.account, permission = EXCLUDED.permission, "
        "show_titles = EXCLUDED.show_titles, callback_block = EXCLUDED.callback_block, "
        "secret = EXCLUDED.secret, updated_at = EXCLUDED.updated_at, "
        "next_read_at = EXCLUDED.next_read_at, block_dirty = true, "
        "block_changes = l.block_changes + 1, "
        "linked_at = CASE WHEN $12 THEN EXCLUDED.linked_at ELSE l.linked_at END, "
        "observed_digest = CASE WHEN $12 OR NOT EXCLUDED.linked THEN '' "
        "ELSE l.observed_digest END, "
        "observed_at = CASE WHEN $12 OR NOT EXCLUDED.linked THEN NULL ELSE l.observed_at END, "
        "observed = CASE WHEN $12 OR NOT EXCLUDED.linked THEN NULL ELSE l.observed END, "
        "unreachable_since = CASE WHEN $12 OR NOT EXCLUDED.linked THEN NULL "
        "ELSE l.unreachable_since END "
        "RETURNING *",
        link.client_id, version, link.linked, link.provider, link.calendar, link.account,
        link.permission, link.show_titles, block, secret, now, relinked,
    )  # fmt: skip


def adapter(row: asyncpg.Record, box: SecretBox | None, config: CalendarSettings) -> CalendarPort:
    """The calendar port for a linked row, with its credential opened; CalendarUnavailable if
    the credential cannot be opened here (a key that is no longer configured)."""
    if box is None or row["secret"] is None:
        raise CalendarUnavailable("no credential is kept for this calendar")
    try:
        secret = box.open(row["secret"], secret_context(row["client_id"]))
    except SecretUnreadable as exc:
        raise CalendarUnavailable(f"the calendar's credential cannot be opened: {exc}") from exc
    return make_adapter(row["provider"], row["calendar"], row["account"], secret, config)


def make_adapter(
    provider: str, calendar: str, account: str, secret: str, config: CalendarSettings
) -> CalendarPort:
    """A calendar port for a provider, calendar and credential."""
    timeout = config.read_timeout_seconds
    if provider == "google":
        return GoogleCalendar(
            calendar,
            config.google_client_id,
            config.google_client_secret,
            secret,
            token_uri=config.google_token_uri,
            api_root=config.google_api_root,
            timeout=timeout,
        )
    return CalDavCalendar(calendar, account, secret, timeout=timeout)


async def check_destination(provider: str, calendar: str, config: CalendarSettings) -> None:
    """Rejected unless a CalDAV URL is https (or allowed http) and leads to a permitted address."""
    if provider != "caldav":
        return
    try:
        url = httpx.URL(calendar)
    except httpx.InvalidURL as exc:
        raise Rejected(f"the calendar's URL is not a URL: {exc}") from exc
    if not url.host:
        raise Rejected("the calendar's URL names no host")
    if url.scheme != "https" and not (url.scheme == "http" and config.allow_http_calendars):
        raise Rejected("a CalDAV calendar is linked by its https URL")
    try:
        async with asyncio.timeout(config.read_timeout_seconds):
            await checked_address(url, config.outbound_policy)
    except OutboundRefused as exc:
        raise Rejected(f"the calendar's URL is not allowed: {exc}") from exc
    except TimeoutError as exc:
        raise Rejected(f"the calendar's host {url.host} could not be looked up in time") from exc


async def checked_adapter(
    row: asyncpg.Record, box: SecretBox | None, config: CalendarSettings
) -> CalendarPort:
    """The row's adapter, once its URL was checked again (its host's address may have moved)."""
    try:
        await check_destination(row["provider"], row["calendar"], config)
    except Rejected as exc:
        raise CalendarUnavailable(str(exc)) from exc
    return adapter(row, box, config)


def view(row: asyncpg.Record) -> dict[str, Any]:
    """The link as answers show it: never the credential."""
    observed = decode(row["observed"]) if row["observed"] else None
    return {
        "client_id": row["client_id"],
        "linked": row["linked"],
        "provider": row["provider"],
        "calendar": row["calendar"],
        "account": row["account"],
        "permission": row["permission"],
        "show_titles": row["show_titles"],
        "callback_block": json.loads(row["callback_block"]) if row["callback_block"] else None,
        "linked_at": row["linked_at"],
        "last_read_at": row["last_read_at"],
        "last_read_ok": row["last_read_ok"],
        "last_error": row["last_error"],
        "unreachable_since": row["unreachable_since"],
        "observed": observed,
    }
