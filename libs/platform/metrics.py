"""Prometheus metrics of the event plumbing, shared by every service.

Labels stay bounded: service, consumer, topic, partition and event type, never ids; HTTP
requests by method, route template and status class (see libs/platform/latency.py).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

EVENTS_APPENDED = Counter(
    "frontdesk_events_appended_total",
    "Events appended to a service's event store.",
    ["service", "type"],
)
EVENTS_PUBLISHED = Counter(
    "frontdesk_events_published_total",
    "Outbox rows published to Kafka by the relay.",
    ["service", "topic"],
)
EVENTS_CONSUMED = Counter(
    "frontdesk_events_consumed_total",
    "Messages a consumer finished with, by outcome (handled, duplicate, ignored, dead_letter).",
    ["consumer", "topic", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "frontdesk_handler_seconds",
    "Time spent in an event handler's transaction.",
    ["consumer", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONSUMER_LAG = Gauge(
    "frontdesk_consumer_lag",
    "Messages between a consumer's position and the end of the partition.",
    ["consumer", "topic", "partition"],
)
OUTBOX_BACKLOG = Gauge(
    "frontdesk_outbox_backlog",
    "Outbox rows not yet published to Kafka.",
    ["service"],
)
DEAD_LETTERS = Counter(
    "frontdesk_dead_letters_total",
    "Messages sent to a dead-letter topic.",
    ["consumer", "topic"],
)
RELAY_ACTIVE = Gauge(
    "frontdesk_relay_active",
    "1 when this process holds the service's relay lock and publishes, else 0.",
    ["service"],
)
RELAY_ERRORS = Counter(
    "frontdesk_relay_errors_total",
    "Publishing attempts that failed and will be retried.",
    ["service"],
)
RELAY_PARKED = Counter(
    "frontdesk_relay_parked_total",
    "Outbox rows Kafka refused for good (too large, invalid), set aside so the rest flow on.",
    ["service"],
)
OUTBOX_PARKED = Gauge(
    "frontdesk_outbox_parked",
    "Outbox rows parked and not yet dealt with (the outbox_parked table).",
    ["service"],
)
TASK_RESTARTS = Counter(
    "frontdesk_task_restarts_total",
    "Background tasks (relay, consumers, timers, listeners) restarted after an error.",
    ["service", "task"],
)
TICKS = Counter(
    "frontdesk_ticks_total",
    "Rounds of a timer or schedule loop finished (whether or not they found due work).",
    ["ticker"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "frontdesk_http_request_seconds",
    "HTTP requests from arrival to the end of the response body, by route template ('unmatched' "
    "when no route matched) and status class; scrapes of /metrics are not counted.",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def configure_exposition() -> None:
    """Leave out the `_created` sample of every counter and histogram on /metrics.

    Nothing queries them, and they double the page: each client's call counters would
    otherwise be two lines each on calls' /metrics.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client
