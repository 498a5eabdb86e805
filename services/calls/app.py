"""Composition root of the calls service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.calls import api, reactions, telephony
from services.calls.migrations import MIGRATIONS
from services.calls.settings import CallsSettings

DEFINITION = ServiceDefinition(
    service="calls",
    migrations=MIGRATIONS,
    subscriptions=reactions.subscriptions,
    startup=(reactions.show_clients,),
)


def create_app(settings: Settings, service_settings: CallsSettings | None = None) -> FastAPI:
    """The calls service's HTTP API with its event store, relay and consumers."""
    app = create_service_app(
        settings, DEFINITION, routers=(telephony.router, api.router), title="Frontdesk calls"
    )
    app.state.service_settings = service_settings or CallsSettings()
    return app
