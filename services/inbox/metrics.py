"""Prometheus metrics of the inbox. Labels stay bounded: channel, outcome and language."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge

from services.inbox.directory import Queryable

MAILS = Counter(
    "frontdesk_inbox_mails_total",
    "Mails that came in, by how (forward, imap) and outcome (kept, duplicate, refused).",
    ["via", "outcome"],
)
REPLIES = Counter(
    "frontdesk_inbox_replies_total", "Replies and forwards sent, by kind and outcome.",
    ["kind", "outcome"],
)  # fmt: skip
CONVERSATIONS_OPEN = Gauge(
    "frontdesk_inbox_conversations_open", "Conversations awaiting an answer, by language.",
    ["language"],
)  # fmt: skip
CONVERSATIONS_OVERDUE = Gauge(
    "frontdesk_inbox_conversations_overdue",
    "Conversations awaiting an answer past their due time, by language.",
    ["language"],
)
ESCALATED = Counter(
    "frontdesk_inbox_escalations_total", "Overdue conversations escalated, by language.",
    ["language"],
)  # fmt: skip
for _language in ("nl", "en", "de", "fr"):
    CONVERSATIONS_OPEN.labels(_language)
    CONVERSATIONS_OVERDUE.labels(_language)
    ESCALATED.labels(_language)
for _via in ("forward", "imap"):
    for _outcome in ("kept", "duplicate", "refused"):
        MAILS.labels(_via, _outcome)


async def count_conversations(db: Queryable, schema: str, now: datetime) -> None:
    """Set the open and overdue gauges from the conversations table."""
    rows = await db.fetch(
        f"SELECT language, count(*) AS n, count(*) FILTER (WHERE due_at <= $1) AS late "
        f"FROM {schema}.conversations WHERE status = 'open' GROUP BY language",
        now,
    )
    found = {row["language"]: row for row in rows}
    for language in ("nl", "en", "de", "fr"):
        row = found.get(language)
        CONVERSATIONS_OPEN.labels(language).set(row["n"] if row else 0)
        CONVERSATIONS_OVERDUE.labels(language).set(row["late"] if row else 0)
