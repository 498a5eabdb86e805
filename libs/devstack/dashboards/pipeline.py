"""The plumbing: services up, HTTP latency, outboxes, Kafka consumers, dead letters."""

from __future__ import annotations

from libs.devstack.dashboards.parts import (
    SERVICES,
    quantile,
    stat,
)
from libs.devstack.grafana import Dashboard, Panel, Query

PIPELINE = Dashboard(
    uid="frontdesk-pipeline",
    title="Frontdesk / Event pipeline health",
    answers=(
        "Whether every service is up and answering quickly, whether events flow from the "
        "outboxes through Kafka to the consumers, and where they pile up or get dead-lettered."
    ),
    time_from="now-6h",
    panels=(
        stat(
            "Service instances up", "Scraped instances answering.", f'sum(up{{job=~"{SERVICES}"}})'
        ),
        stat(
            "Outbox backlog",
            "Events appended but not yet published to Kafka.",
            "sum(max by (service) (frontdesk_outbox_backlog))",
        ),
        stat(
            "Consumer lag",
            "Messages the consumers still have to read.",
            "sum(frontdesk_consumer_lag)",
        ),
        stat(
            "Dead letters",
            "Messages sent to a dead-letter topic in the chosen range.",
            "sum(increase(frontdesk_dead_letters_total[$__range]))",
        ),
        Panel(
            "HTTP latency (95th percentile) by route",
            "Per service and route template.",
            (
                Query(
                    quantile(
                        0.95,
                        "rate(frontdesk_http_request_seconds_bucket[$__rate_interval])",
                        by="service, route",
                    ),
                    "{{service}} {{route}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "HTTP requests by status",
            "Requests per second per service and status class.",
            (
                Query(
                    "sum by (service, status) "
                    "(rate(frontdesk_http_request_seconds_count[$__rate_interval]))",
                    "{{service}} {{status}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Events appended and published",
            "Per second, per service: appended to the event store, published by the relay.",
            (
                Query(
                    "sum by (service) (rate(frontdesk_events_appended_total[$__rate_interval]))",
                    "appended {{service}}",
                ),
                Query(
                    "sum by (service) (rate(frontdesk_events_published_total[$__rate_interval]))",
                    "published {{service}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Events consumed by outcome",
            "Per second, per consumer: handled, duplicate, ignored, dead_letter.",
            (
                Query(
                    "sum by (consumer, outcome) "
                    "(rate(frontdesk_events_consumed_total[$__rate_interval]))",
                    "{{consumer}} {{outcome}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Consumer lag",
            "Messages behind the end of the topic, per consumer and topic.",
            (Query("sum by (consumer, topic) (frontdesk_consumer_lag)", "{{consumer}} {{topic}}"),),
        ),
        Panel(
            "Outbox backlog",
            "Unpublished outbox rows per service.",
            (Query("max by (service) (frontdesk_outbox_backlog)", "{{service}}"),),
        ),
        Panel(
            "Relays",
            "Active relays per service (should be exactly 1) and publishing errors.",
            (
                Query("sum by (service) (frontdesk_relay_active)", "active {{service}}"),
                Query(
                    "sum by (service) (increase(frontdesk_relay_errors_total[$__rate_interval]))",
                    "errors {{service}}",
                ),
            ),
        ),
        Panel(
            "Dead letters and handler time",
            "Dead-lettered messages per consumer; 99th percentile of a handler's transaction.",
            (
                Query(
                    "sum by (consumer) (increase(frontdesk_dead_letters_total[$__rate_interval]))",
                    "dead letters {{consumer}}",
                ),
                Query(
                    quantile(
                        0.99,
                        "rate(frontdesk_handler_seconds_bucket[$__rate_interval])",
                        by="consumer",
                    ),
                    "p99 seconds {{consumer}}",
                ),
            ),
        ),
        Panel(
            "Background task restarts",
            "Relay, consumers, clock, timers and senders restarted after an error, per task.",
            (
                Query(
                    "sum by (service, task) "
                    "(increase(frontdesk_task_restarts_total[$__rate_interval]))",
                    "{{service}} {{task}}",
                ),
            ),
        ),
    ),
)
