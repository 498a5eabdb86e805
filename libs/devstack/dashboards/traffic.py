"""Calls: the call volume per client and hour, operators and escalations."""

from __future__ import annotations

from libs.devstack.dashboards.parts import (
    CLIENT,
    hourly,
    per_client,
    quantile,
    received,
    selected,
    stat,
)
from libs.devstack.grafana import Dashboard, Panel, Query

CALL_VOLUME = Dashboard(
    uid="frontdesk-call-volume",
    title="Frontdesk / Call volume",
    answers=(
        "How many calls came in today, per client and per hour, compared with the same day "
        "last week; how many were answered, sent to voicemail or came in after hours; "
        "how long callers waited for an operator."
    ),
    time_from="now/d",
    time_to="now/d",
    variables=(CLIENT,),
    panels=(
        stat(
            "Calls received", "Calls received in the chosen range.", selected(received("$__range"))
        ),
        stat(
            "Answered",
            "Calls an operator answered in the chosen range.",
            selected("increase(frontdesk_calls_answered_total[$__range])"),
        ),
        stat(
            "Sent to voicemail",
            "Calls that ended in a voicemail in the chosen range.",
            selected("increase(frontdesk_calls_voicemail_total[$__range])"),
        ),
        stat(
            "Median answer time",
            "Half the calls of the chosen range were answered faster than this.",
            quantile(0.5, "increase(frontdesk_call_answer_seconds_bucket[$__range])"),
            unit="s",
        ),
        hourly(
            "Calls per hour: today against the same day last week",
            "Calls received per hour; the second series is the same hour one week earlier.",
            Query(selected(received("1h")), "today"),
            Query(selected("increase(frontdesk_calls_received_total[1h] offset 1w)"), "last week"),
            width=24,
        ),
        hourly(
            "Calls per client per hour",
            "Calls received per hour, one series per client company.",
            Query(per_client(received("1h")), "{{company}}"),
        ),
        hourly(
            "What happened to the calls, per hour",
            "Answered, sent to voicemail, transferred, and received while the office was closed.",
            Query(selected("increase(frontdesk_calls_answered_total[1h])"), "answered"),
            Query(selected("increase(frontdesk_calls_voicemail_total[1h])"), "voicemail"),
            Query(selected("increase(frontdesk_calls_transferred_total[1h])"), "transferred"),
            Query(selected(received("1h", '{office="closed"}')), "after hours"),
        ),
        Panel(
            "Answer time",
            "Time from a call coming in to an operator answering it (all clients).",
            (
                Query(
                    quantile(0.5, "rate(frontdesk_call_answer_seconds_bucket[$__rate_interval])"),
                    "median",
                ),
                Query(
                    quantile(0.9, "rate(frontdesk_call_answer_seconds_bucket[$__rate_interval])"),
                    "90th percentile",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Calls per client in the chosen range",
            "Clients ordered by the number of calls received.",
            (Query(f"sort_desc({per_client(received('$__range'))})", "{{company}}"),),
            kind="bargauge",
        ),
    ),
)

OPERATORS = Dashboard(
    uid="frontdesk-operators",
    title="Frontdesk / Operators and escalations",
    answers=(
        "Which operators and languages took the calls; how many calls found no free operator; "
        "how urgent calls were escalated, by which channel, how fast someone acknowledged, "
        "and which escalations reached nobody."
    ),
    panels=(
        stat(
            "Operators available now",
            "Operators on the roster whose presence is available.",
            'sum(frontdesk_operators{presence="available"})',
        ),
        stat(
            "Calls with no free operator",
            "Calls during office hours that found no available operator speaking the language.",
            'sum(increase(frontdesk_calls_routed_total{reason="no_operator"}[$__range]))',
        ),
        stat(
            "Escalations that reached nobody",
            "Escalation chains that ran out of contacts without an acknowledgement.",
            'sum(increase(frontdesk_escalations_total{outcome="exhausted"}[$__range]))',
        ),
        stat(
            "Median time to acknowledge",
            "Half the escalations were acknowledged faster than this.",
            quantile(0.5, "increase(frontdesk_escalation_ack_seconds_bucket[$__range])"),
            unit="s",
        ),
        hourly(
            "Calls per operator per hour",
            "Calls routing gave to each operator.",
            Query(
                "sum by (operator) (increase(frontdesk_operator_calls_total[1h]))", "{{operator}}"
            ),
        ),
        hourly(
            "Calls per language per hour",
            "Calls routed, by the language of the client they were for.",
            Query("sum by (language) (increase(frontdesk_calls_routed_total[1h]))", "{{language}}"),
        ),
        Panel(
            "Operators by language and presence",
            "Roster operators per language they speak and their presence.",
            (
                Query(
                    "sum by (language, presence) (frontdesk_operators)", "{{language}} {{presence}}"
                ),
            ),
        ),
        hourly(
            "Where calls went, per hour",
            "operator; voicemail after hours; voicemail because no operator was free.",
            Query(
                "sum by (reason) (increase(frontdesk_calls_routed_total[1h]))",
                "{{reason}}",
            ),
        ),
        hourly(
            "Escalations by outcome, per hour",
            "Escalations requested, acknowledged and exhausted.",
            Query("sum by (outcome) (increase(frontdesk_escalations_total[1h]))", "{{outcome}}"),
        ),
        hourly(
            "Escalation attempts by channel, per hour",
            "Transfers, SMS, chat messages and e-mails sent to escalation contacts.",
            Query(
                "sum by (channel) (increase(frontdesk_escalation_dispatches_total[1h]))",
                "{{channel}}",
            ),
        ),
        Panel(
            "Time to acknowledge",
            "From the operator's escalation request to a contact's acknowledgement.",
            (
                Query(
                    quantile(0.5, "increase(frontdesk_escalation_ack_seconds_bucket[1h])"),
                    "median",
                ),
                Query(
                    quantile(0.9, "increase(frontdesk_escalation_ack_seconds_bucket[1h])"),
                    "90th percentile",
                ),
            ),
            unit="s",
            width=24,
        ),
    ),
)
