"""The calendar service: reads of the clients' linked calendars, and the callback list.

The linked, unreachable and callback gauges are counted from the calendar's tables by every
instance alike, so they are combined with `max` across instances, never summed.
"""

from __future__ import annotations

from libs.devstack.dashboards.parts import hourly, quantile, stat
from libs.devstack.grafana import Dashboard, Panel, Query

LINKED = "max by (provider, permission) (frontdesk_calendars_linked)"
UNREACHABLE = "max by (provider) (frontdesk_calendars_unreachable)"
OPEN = "max by (language) (frontdesk_callbacks_open)"
OVERDUE = "max by (language) (frontdesk_callbacks_overdue)"

CALENDAR = Dashboard(
    uid="frontdesk-calendar",
    title="Frontdesk / Calendars and callbacks",
    answers=(
        "How many clients' calendars are linked and whether they can be read, how fast and "
        "how often the reads succeed; how many promised callbacks are open or overdue per "
        "language, how they end, and how many had to be escalated to the desk."
    ),
    time_from="now-24h",
    panels=(
        stat(
            "Calendars linked", "Linked calendars, every provider and permission.", f"sum({LINKED})"
        ),
        stat(
            "Calendars unreachable",
            "Linked calendars whose last read failed: the screen pop shows their last known state.",
            f"sum({UNREACHABLE})",
        ),
        stat("Callbacks open", "Callbacks on the list not yet done or failed.", f"sum({OPEN})"),
        stat(
            "Callbacks overdue",
            "Open callbacks past their due time plus the grace period.",
            f"sum({OVERDUE})",
        ),
        Panel(
            "Calendar reads by outcome",
            "Reads of linked calendars per second, by provider and outcome (ok, failed, timeout).",
            (
                Query(
                    "sum by (provider, outcome) "
                    "(rate(frontdesk_calendar_reads_total[$__rate_interval]))",
                    "{{provider}} {{outcome}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Calendar read time (95th percentile)",
            "How long reading a linked calendar took, failed reads included, by provider.",
            (
                Query(
                    quantile(
                        0.95,
                        "rate(frontdesk_calendar_read_seconds_bucket[$__rate_interval])",
                        by="provider",
                    ),
                    "{{provider}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Calendars linked and unreachable",
            "Linked calendars by provider and permission (read, write); those whose last read "
            "failed, by provider.",
            (
                Query(LINKED, "linked {{provider}} {{permission}}"),
                Query(UNREACHABLE, "unreachable {{provider}}"),
            ),
        ),
        Panel(
            "Callbacks open and overdue by language",
            "Open callbacks and those of them overdue, by the caller's language.",
            (
                Query(OPEN, "open {{language}}"),
                Query(OVERDUE, "overdue {{language}}"),
            ),
        ),
        hourly(
            "Callbacks finished and escalated, per hour",
            "Callbacks that left the list, by outcome (done, failed); overdue callbacks "
            "escalated to the bureau's desk.",
            Query(
                "sum by (outcome) (increase(frontdesk_callbacks_finished_total[1h]))", "{{outcome}}"
            ),
            Query("sum(increase(frontdesk_callbacks_escalated_total[1h]))", "escalated"),
            width=24,
        ),
    ),
)
