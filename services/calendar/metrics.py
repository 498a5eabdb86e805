"""Prometheus metrics of the calendar service.

Labels stay bounded: provider, permission, outcome and language; no client, call or callback
ids. The callback gauges are counted from the callback table after each change and on every
timer tick, so a restarted process reports the truth at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Counter, Gauge, Histogram

from services.calendar.directory import Queryable

CALENDAR_READS = Counter(
    "frontdesk_calendar_reads_total",
    "Reads of linked calendars, by provider and outcome (ok, failed, timeout).",
    ["provider", "outcome"],
)
CALENDAR_READ_SECONDS = Histogram(
    "frontdesk_calendar_read_seconds",
    "How long reading a linked calendar took (failed reads included), by provider.",
    ["provider"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)
CALENDAR_WRITES = Counter(
    "frontdesk_calendar_writes_total",
    "Writes to linked calendars, by provider, action (book, move, cancel, block) and outcome.",
    ["provider", "action", "outcome"],
)
CALENDARS_LINKED = Gauge(
    "frontdesk_calendars_linked",
    "Linked calendars, by provider and permission.",
    ["provider", "permission"],
)
CALENDARS_UNREACHABLE = Gauge(
    "frontdesk_calendars_unreachable",
    "Linked calendars whose last read failed, by provider.",
    ["provider"],
)
CALLBACKS_OPEN = Gauge(
    "frontdesk_callbacks_open",
    "Callbacks on the list not yet done or failed, by the caller's language.",
    ["language"],
)
CALLBACKS_OVERDUE = Gauge(
    "frontdesk_callbacks_overdue",
    "Open callbacks past their due time plus the grace period, by the caller's language.",
    ["language"],
)
CALLBACKS_FINISHED = Counter(
    "frontdesk_callbacks_finished_total",
    "Callbacks that left the list, by outcome (done, failed).",
    ["outcome"],
)
CALLBACKS_SCHEDULED = Counter(
    "frontdesk_callbacks_scheduled_total",
    "Callbacks put on the list, by source (note, voicemail).",
    ["source"],
)
CALLBACKS_ESCALATED = Counter(
    "frontdesk_callbacks_escalated_total",
    "Overdue callbacks escalated to the bureau's desk, by the caller's language.",
    ["language"],
)
for _provider in ("google", "caldav"):
    for _outcome in ("ok", "failed", "timeout"):
        CALENDAR_READS.labels(_provider, _outcome)
for _outcome in ("done", "failed"):
    CALLBACKS_FINISHED.labels(_outcome)
for _language in ("nl", "en", "de", "fr"):
    CALLBACKS_OPEN.labels(_language)
    CALLBACKS_OVERDUE.labels(_language)
    CALLBACKS_ESCALATED.labels(_language)


async def count_links(db: Queryable, schema: str) -> None:
    """Set the linked and unreachable gauges from the links table."""
    rows = await db.fetch(
        f"SELECT provider, permission, count(*) AS n, "
        "count(*) FILTER (WHERE unreachable_since IS NOT NULL) AS down "
        f"FROM {schema}.links WHERE linked GROUP BY provider, permission"
    )
    down: dict[str, int] = {"google": 0, "caldav": 0}
    for provider in ("google", "caldav"):
        for permission in ("read", "write"):
            CALENDARS_LINKED.labels(provider, permission).set(0)
    for row in rows:
        CALENDARS_LINKED.labels(row["provider"], row["permission"]).set(row["n"])
        down[row["provider"]] += row["down"]
    for provider, n in down.items():
        CALENDARS_UNREACHABLE.labels(provider).set(n)


async def count_callbacks(db: Queryable, schema: str, now: datetime, grace: timedelta) -> None:
    """Set the open and overdue callback gauges from the callback table."""
    rows = await db.fetch(
        f"SELECT language, count(*) AS n, count(*) FILTER (WHERE due_at + $2 <= $1) AS late "
        f"FROM {schema}.callbacks WHERE status = 'open' GROUP BY language",
        now,
        grace,
    )
    found = {row["language"]: row for row in rows}
    for language in ("nl", "en", "de", "fr"):
        row = found.get(language)
        CALLBACKS_OPEN.labels(language).set(row["n"] if row else 0)
        CALLBACKS_OVERDUE.labels(language).set(row["late"] if row else 0)
