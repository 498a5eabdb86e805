"""After the call: notifications and billing."""

from __future__ import annotations

from libs.devstack.dashboards.parts import (
    hourly,
    quantile,
    stat,
)
from libs.devstack.grafana import Dashboard, Panel, Query

NOTIFICATIONS = Dashboard(
    uid="frontdesk-notifications",
    title="Frontdesk / Notifications",
    answers=(
        "How many messages went out by e-mail, SMS and chat, how many failed and whether for "
        "good, how long it took from a note to its mail, and what is still waiting."
    ),
    panels=(
        stat(
            "Sent",
            "Notifications accepted by the mail server, SMS provider or chat webhook.",
            "sum(increase(frontdesk_notifications_sent_total[$__range]))",
        ),
        stat(
            "Failed for good",
            "Notifications given up on (visible to the client's notification list).",
            'sum(increase(frontdesk_notifications_failed_total{permanent="true"}[$__range]))',
        ),
        stat(
            "Median note-to-mail delay",
            "Per-call mails: half were sent faster than this after the note.",
            quantile(
                0.5,
                'increase(frontdesk_notification_delay_seconds_bucket{kind="per_call"}[$__range])',
            ),
            unit="s",
        ),
        stat(
            "Waiting now",
            "Notifications queued or being sent right now.",
            "sum(max by (state) (frontdesk_notification_backlog))",
        ),
        hourly(
            "Sent per hour",
            "By channel and kind (per call, daily digest, voicemail summary, escalation).",
            Query(
                "sum by (channel, kind) (increase(frontdesk_notifications_sent_total[1h]))",
                "{{channel}} {{kind}}",
            ),
        ),
        hourly(
            "Failures per hour",
            "Failed delivery attempts; permanent=true means no retry follows.",
            Query(
                "sum by (channel, permanent) (increase(frontdesk_notifications_failed_total[1h]))",
                "{{channel}} permanent={{permanent}}",
            ),
        ),
        Panel(
            "Delay from message to send",
            "90th percentile per kind; digests wait for the client's digest time by design.",
            (
                Query(
                    quantile(
                        0.9,
                        "rate(frontdesk_notification_delay_seconds_bucket[$__rate_interval])",
                        by="kind",
                    ),
                    "{{kind}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Queue",
            "Notifications pending or being sent; each replica reports the same table.",
            (Query("max by (state) (frontdesk_notification_backlog)", "{{state}}"),),
        ),
        hourly(
            "Sent again after an unrecorded outcome",
            "A send whose outcome was never recorded (crash, lease expired) is repeated.",
            Query(
                "sum by (channel) (increase(frontdesk_notifications_resent_total[1h]))",
                "{{channel}}",
            ),
            width=24,
        ),
    ),
)

BILLING = Dashboard(
    uid="frontdesk-billing",
    title="Frontdesk / Billing",
    answers=(
        "Which calls were billed and which were not and why, what the invoices and credit "
        "notes came to, which punch cards run low, and how dispute replays turned out."
    ),
    time_from="now-30d",
    panels=(
        stat(
            "Invoices issued",
            "Monthly invoices and punch-card top-ups in the chosen range.",
            "sum(increase(frontdesk_billing_invoices_issued_total[$__range]))",
        ),
        stat(
            "Invoiced (incl. VAT)",
            "Total of the invoices issued in the chosen range.",
            'sum(increase(frontdesk_billing_invoiced_cents_total{kind!="credit_note"}[$__range]))'
            " / 100",
            unit="currencyEUR",
        ),
        stat(
            "Credited (incl. VAT)",
            "Total of the credit notes issued in the chosen range.",
            'sum(increase(frontdesk_billing_invoiced_cents_total{kind="credit_note"}[$__range]))'
            " / 100",
            unit="currencyEUR",
        ),
        stat(
            "Replays that differed",
            "Dispute replays whose recomputed invoice did not match the issued one.",
            'sum(increase(frontdesk_billing_replays_total{outcome="differs"}[$__range]))',
        ),
        Panel(
            "Invoiced calls by decision and reason",
            "Calls on the invoices of the chosen range: billable, non-billable (by reason).",
            (
                Query(
                    "sum by (decision, reason) "
                    "(increase(frontdesk_billing_call_decisions_total[$__range]))",
                    "{{decision}} {{reason}}",
                ),
            ),
            kind="bargauge",
        ),
        Panel(
            "Calls marked non-billable, per day",
            "Operators' marks by reason; reverted marks are shown apart.",
            (
                Query(
                    "sum by (reason, change) (increase(frontdesk_calls_non_billable_total[1d]))",
                    "{{reason}} {{change}}",
                ),
            ),
            bars=True,
            interval="1d",
        ),
        Panel(
            "Documents per day",
            "Invoices by purpose and credit notes.",
            (
                Query(
                    "sum by (purpose) (increase(frontdesk_billing_invoices_issued_total[1d]))",
                    "invoices {{purpose}}",
                ),
                Query(
                    "sum(increase(frontdesk_billing_credit_notes_issued_total[1d]))",
                    "credit notes",
                ),
            ),
            bars=True,
            interval="1d",
        ),
        Panel(
            "Amounts per day",
            "Invoice and credit-note totals (incl. VAT).",
            (
                Query(
                    "sum by (kind) (increase(frontdesk_billing_invoiced_cents_total[1d])) / 100",
                    "{{kind}}",
                ),
            ),
            unit="currencyEUR",
            bars=True,
            interval="1d",
        ),
        Panel(
            "Punch cards running low and dispute replays",
            "Low-balance warnings sent; replays by outcome.",
            (
                Query(
                    "sum(increase(frontdesk_billing_punch_card_low_total[1d]))", "punch card low"
                ),
                Query(
                    "sum by (outcome) (increase(frontdesk_billing_replays_total[1d]))",
                    "replay {{outcome}}",
                ),
            ),
            bars=True,
            interval="1d",
            width=24,
        ),
    ),
)
