"""The inbox service: mail the clients forward or let the bureau read, the conversations it
opens, the replies and forwards sent, and the conversations escalated when overdue.

The open and overdue gauges are counted from the inbox's conversations table by every instance
alike, so they are combined with `max` across instances, never summed.
"""

from __future__ import annotations

from libs.devstack.dashboards.parts import hourly, stat
from libs.devstack.grafana import Dashboard, Panel, Query

OPEN = "max by (language) (frontdesk_inbox_conversations_open)"
OVERDUE = "max by (language) (frontdesk_inbox_conversations_overdue)"

INBOX = Dashboard(
    uid="frontdesk-inbox",
    title="Frontdesk / Mail handling",
    answers=(
        "How much mail comes in for the clients and how much of it is kept, a duplicate or "
        "refused; how many conversations await an answer or are overdue per language, how "
        "many had to be escalated, and whether the replies and forwards get out."
    ),
    time_from="now-24h",
    panels=(
        stat(
            "Conversations open",
            "Conversations awaiting an answer, every language.",
            f"sum({OPEN})",
        ),
        stat(
            "Conversations overdue",
            "Open conversations past their due time (office time from the mail's arrival).",
            f"sum({OVERDUE})",
        ),
        stat(
            "Mails kept",
            "Mails that came in and were kept in the chosen range, forwarded or read by IMAP.",
            'sum(increase(frontdesk_inbox_mails_total{outcome="kept"}[$__range]))',
        ),
        stat(
            "Replies not sent",
            "Replies and forwards the SMTP relay did not take in the chosen range.",
            'sum(increase(frontdesk_inbox_replies_total{outcome="failed"}[$__range]))',
        ),
        hourly(
            "Mails in by outcome, per hour",
            "Mails that came in, by how (forward: to the inbound SMTP listener; imap: read from "
            "a client's mailbox) and outcome (kept, duplicate, refused).",
            Query(
                "sum by (via, outcome) (increase(frontdesk_inbox_mails_total[1h]))",
                "{{via}} {{outcome}}",
            ),
        ),
        Panel(
            "Conversations open and overdue by language",
            "Conversations awaiting an answer and those of them past their due time, by the "
            "mail's language.",
            (
                Query(OPEN, "open {{language}}"),
                Query(OVERDUE, "overdue {{language}}"),
            ),
        ),
        hourly(
            "Replies and forwards by outcome, per hour",
            "Replies to the sender and forwards to the client, by outcome (sent, or failed: the "
            "relay did not take them).",
            Query(
                "sum by (kind, outcome) (increase(frontdesk_inbox_replies_total[1h]))",
                "{{kind}} {{outcome}}",
            ),
        ),
        hourly(
            "Conversations escalated, per hour",
            "Overdue conversations escalated to the bureau's desk, by language.",
            Query(
                "sum by (language) (increase(frontdesk_inbox_escalations_total[1h]))",
                "{{language}}",
            ),
        ),
    ),
)
