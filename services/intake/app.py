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
BOOK_BODY_BYTES = 256 * 1024
"""The largest secretary book taken: generous for instructions and FAQ, far below an event."""
BODY_LIMITS = {"/clients/{client_id}/book": BOOK_BODY_BYTES}


def create_app(settings: Settings) -> FastAPI:
    """The intake service's HTTP API with its event store, relay and read tables."""
    app = create_service_app(
        settings, DEFINITION, [router], title="Frontdesk intake", body_limits=BODY_LIMITS
    )
    openapi.install(app)
    return app
