"""Composition root of the routing service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.routing import api, feed, reactions, telephony
from services.routing.feed_stream import FeedHub
from services.routing.migrations import MIGRATIONS
from services.routing.settings import RoutingSettings
from services.routing.workers.roster_gauge import roster_gauge_worker
from services.routing.workers.timers import timer_worker


def definition(config: RoutingSettings, hub: FeedHub | None = None) -> ServiceDefinition:
    """Routing's tables, its consumers (intake, calls, inbox and calendar topics), its timers,
    roster gauge, the feed's pruning and the listener that wakes the operators' feeds (`hub`)."""
    feed_workers = {"feed-listener": hub.worker()} if hub is not None else {}
    return ServiceDefinition(
        service="routing",
        migrations=MIGRATIONS,
        subscriptions=lambda settings: reactions.subscriptions(settings, config),
        workers={
            "escalation-timers": timer_worker(config),
            "roster-gauge": roster_gauge_worker(config),
            "feed-prune": feed.prune_worker(config),
            **feed_workers,
        },
    )


def create_app(settings: Settings, routing_settings: RoutingSettings | None = None) -> FastAPI:
    """The routing service's HTTP API with its event store, relay, consumers and timers."""
    config = routing_settings or RoutingSettings()
    hub = FeedHub()
    app = create_service_app(
        settings,
        definition(config, hub),
        routers=(api.router, telephony.router),
        title="Frontdesk routing",
    )
    app.state.service_settings = config
    app.state.feed_hub = hub
    return app
