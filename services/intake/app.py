"""Composition root of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.intake import openapi
from services.intake.api import router
from services.intake.migrations import MIGRATIONS

DEFINITION = ServiceDefinition(service="intake", migrations=MIGRATIONS)


def create_app(settings: Settings) -> FastAPI:
    """The intake service's HTTP API with its event store, relay and read tables."""
    app = create_service_app(settings, DEFINITION, [router], title="Frontdesk intake")
    openapi.install(app)
    return app
