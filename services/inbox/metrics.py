"""Prometheus metrics of the inbox. Labels stay bounded: channel, outcome, language, and
`client_id` (one per client business of the bureau, as in calls' metrics, so mail can be shown
per client). Never addresses, subjects or message ids."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

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
ANNOUNCED_FOUND = Counter(
    "frontdesk_inbox_announced_mails_found_total",
    "Callers' announced mails found, by how (the noted address or the number in the text).",
    ["by"],
)
RECEIVED = Counter(
    "frontdesk_inbox_client_mails_total",
    "Mails kept for a client (each once, however often delivered), by client and how.",
    ["client_id", "via"],
)
ANSWERED = Counter(
    "frontdesk_inbox_answered_total",
    "Conversations the bureau answered (replied, forwarded or handled), by client, how, and "
    "whether it was within the client's agreed answer time.",
    ["client_id", "how", "in_time"],
)
TIME_TO_ANSWER = Histogram(
    "frontdesk_inbox_time_to_answer_seconds",
    "From the first unanswered mail of a conversation to the bureau's answer, by language.",
    ["language"],
    buckets=(300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600),
)
REPLIES_GIVEN_UP = Counter(
    "frontdesk_inbox_replies_given_up_total",
    "Replies and forwards the outbox stopped trying to send, by kind.",
    ["kind"],
)
REPLIES_RESENT = Counter(
    "frontdesk_inbox_replies_resent_total",
    "Replies and forwards sent again after a claim ended without recording its outcome.",
    ["kind"],
)
OUTGOING_BACKLOG = Gauge(
    "frontdesk_inbox_outgoing_backlog",
    "Replies and forwards waiting in the outbox (queued) or being handed over (sending).",
    ["state"],
)
for _kind in ("reply", "forward"):
    REPLIES_GIVEN_UP.labels(_kind)
    REPLIES_RESENT.labels(_kind)
    for _outcome in ("sent", "failed"):
        REPLIES.labels(_kind, _outcome)
for _state in ("queued", "sending"):
    OUTGOING_BACKLOG.labels(_state)
for _language in ("nl", "en", "de", "fr"):
    CONVERSATIONS_OPEN.labels(_language)
    CONVERSATIONS_OVERDUE.labels(_language)
    ESCALATED.labels(_language)
    TIME_TO_ANSWER.labels(_language)
for _via in ("forward", "imap"):
    for _outcome in ("kept", "duplicate", "refused"):
        MAILS.labels(_via, _outcome)


def answered(
    client_id: UUID, how: str, language: str, waited_from: datetime | None, due_at: datetime,
    at: datetime,
) -> None:  # fmt: skip
    """Count an answer to a conversation that awaited one (after its transaction committed)."""
    ANSWERED.labels(str(client_id), how, "yes" if at <= due_at else "no").inc()
    if waited_from is not None:
        TIME_TO_ANSWER.labels(language).observe(max((at - waited_from).total_seconds(), 0.0))


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
