"""The inbox service: mail the clients forward or let the bureau read, the conversations it
opens, the replies and forwards sent, and the conversations escalated when overdue.

The open and overdue gauges are counted from the inbox's conversations table by every instance
alike, so they are combined with `max` across instances, never summed.
"""

from __future__ import annotations

from libs.devstack.dashboards.parts import CLIENT, hourly, per_client, quantile, selected, stat
from libs.devstack.grafana import Dashboard, Panel, Query

OPEN = "max by (language) (frontdesk_inbox_conversations_open)"
OVERDUE = "max by (language) (frontdesk_inbox_conversations_overdue)"
ANSWERED = 'increase(frontdesk_inbox_answered_total{{in_time=~"{}"}}[{}])'
RECEIVED = "increase(frontdesk_inbox_client_mails_total[{}])"
TIME_TO_ANSWER = "rate(frontdesk_inbox_time_to_answer_seconds_bucket[$__rate_interval])"


def in_time_rate(window: str) -> str:
    """The share of the chosen clients' answers given within their agreed answer time."""
    return f"{selected(ANSWERED.format('yes', window))} / {selected(ANSWERED.format('.*', window))}"


INBOX = Dashboard(
    uid="frontdesk-inbox",
    title="Frontdesk / Mail handling",
    answers=(
        "How much mail comes in for the clients and how much of it is kept, a duplicate or "
        "refused; how many conversations await an answer or are overdue per language, how "
        "many had to be escalated, and whether the replies and forwards get out; per client, "
        "the mail received and answered, the share answered within the agreed time and how "
        "long an answer takes; and the callers' announced mails found."
    ),
    time_from="now-24h",
    variables=(CLIENT,),
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
        stat(
            "Answered within the agreed time",
            "Of the chosen clients' conversations answered in the range (replied, forwarded or "
            "handled), the share answered before their due time.",
            in_time_rate("$__range"),
            unit="percentunit",
        ),
        stat(
            "Mails received (chosen clients)",
            "Mails kept for the chosen clients in the range, each once.",
            selected(RECEIVED.format("$__range")),
        ),
        stat(
            "Conversations answered (chosen clients)",
            "Conversations of the chosen clients the bureau answered in the range.",
            selected(ANSWERED.format(".*", "$__range")),
        ),
        stat(
            "Announced mails found",
            "Calls whose caller e-mailed as they had said on the phone, found in the range: each "
            "is proposed as not billable until an operator or the client confirms.",
            "sum(increase(frontdesk_inbox_announced_mails_found_total[$__range]))",
        ),
        Panel(
            "Mail received and answered per client in the chosen range",
            "Per client company: the mails kept, and the conversations answered.",
            (
                Query(f"sort_desc({per_client(RECEIVED.format('$__range'))})", "in {{company}}"),
                Query(
                    f"sort_desc({per_client(ANSWERED.format('.*', '$__range'))})",
                    "answered {{company}}",
                ),
            ),
            kind="bargauge",
        ),
        Panel(
            "Answered within the agreed time, per client",
            "Per client company, the share of its conversations answered before their due time "
            "(over the last day, hour by hour).",
            (
                Query(
                    f"{per_client(ANSWERED.format('yes', '1d'))} / "
                    f"{per_client(ANSWERED.format('.*', '1d'))}",
                    "{{company}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Time to answer",
            "From the first unanswered mail of a conversation to the bureau's answer, all "
            "clients: the median and the 90th percentile.",
            (
                Query(quantile(0.5, TIME_TO_ANSWER), "median"),
                Query(quantile(0.9, TIME_TO_ANSWER), "90th percentile"),
            ),
            unit="s",
        ),
        hourly(
            "Replies and forwards given up, per hour",
            "Answers the relay never took, however often tried: the conversation awaits an "
            "answer again and escalates.",
            Query(
                "sum by (kind) (increase(frontdesk_inbox_replies_given_up_total[1h]))", "{{kind}}"
            ),
        ),
    ),
)
