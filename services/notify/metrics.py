"""Prometheus metrics of the notify service.

Labels stay bounded: channel (email, sms, chat), kind (per_call, daily_digest,
voicemail_summary, escalation), permanent (true, false) and state; never ids or addresses.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from libs.events.notify import NotificationKind

NOTIFICATIONS_SENT = Counter(
    "frontdesk_notifications_sent_total",
    "Notifications the SMTP server, SMS provider or chat webhook accepted.",
    ["channel", "kind"],
)
NOTIFICATIONS_FAILED = Counter(
    "frontdesk_notifications_failed_total",
    "Delivery attempts that failed; permanent=true means no retry follows.",
    ["channel", "kind", "permanent"],
)
# Mail failures exist from the start at 0, so the first failure after a restart is an increase
# Prometheus can see (the SMTP alert rules rely on it).
for _kind in get_args(NotificationKind):
    for _permanent in ("true", "false"):
        NOTIFICATIONS_FAILED.labels("email", _kind, _permanent)
NOTIFICATIONS_RESENT = Counter(
    "frontdesk_notifications_resent_total",
    "Sends repeated because an earlier attempt's outcome was never recorded (lease expired).",
    ["channel", "kind"],
)
DIGESTS_CAUGHT_UP = Counter(
    "frontdesk_digests_caught_up_total",
    "Daily digests made after their day had passed (notify was down at the digest time).",
)
NOTIFICATION_DELAY = Histogram(
    "frontdesk_notification_delay_seconds",
    "From the oldest message a notification carries (note, voicemail, dispatch) to its send.",
    ["channel", "kind"],
    buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400),
)
NOTIFICATION_BACKLOG = Gauge(
    "frontdesk_notification_backlog",
    "Notifications waiting to be sent (pending) or being sent (sending).",
    ["state"],
)
