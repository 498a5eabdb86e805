"""Composition root of the routing service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.routing import api, reactions, telephony
from services.routing.migrations import MIGRATIONS
from services.routing.settings import RoutingSettings
from services.routing.workers.roster_gauge import roster_gauge_worker
from services.routing.workers.timers import timer_worker


def definition(config: RoutingSettings) -> ServiceDefinition:
    """Routing's tables, its consumers (intake and calls topics), its timers and roster gauge."""
    return ServiceDefinition(
        service="routing",
        migrations=MIGRATIONS,
        subscriptions=lambda settings: reactions.subscriptions(settings, config),
        workers={
            "escalation-timers": timer_worker(config),
            "roster-gauge": roster_gauge_worker(config),
        },
    )


def create_app(settings: Settings, routing_settings: RoutingSettings | None = None) -> FastAPI:
    """The routing service's HTTP API with its event store, relay, consumers and timers."""
    config = routing_settings or RoutingSettings()
    app = create_service_app(
        settings,
        definition(config),
        routers=(api.router, telephony.router),
        title="Frontdesk routing",
    )
    app.state.service_settings = config
    return app
