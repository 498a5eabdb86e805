"""Composition root of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.intake import (
    billing_api,
    book_requests_api,
    handover,
    handover_api,
    numbers_api,
    onboarding_api,
    openapi,
    screen_pops,
)
from services.intake.api import router
from services.intake.migrations import MIGRATIONS
from services.intake.screen_pops import ScreenPops
from services.intake.settings import IntakeSettings
from services.intake.workers import offboardings, onboarding_waits


def definition(config: IntakeSettings, pops: ScreenPops | None = None) -> ServiceDefinition:
    """Intake's tables, its two clocks' loops (onboarding waits and scheduled departures) and
    the listener that keeps the screen pops current."""
    screen = {"screen-pops": screen_pops.listener(pops)} if pops is not None else {}
    return ServiceDefinition(
        service="intake",
        migrations=MIGRATIONS,
        subscriptions=lambda settings: (handover.subscription(settings),),
        workers={
            "onboarding-waits": onboarding_waits.worker(),
            "offboardings": offboardings.worker(config),
            **screen,
        },
    )


BOOK_BODY_BYTES = 256 * 1024
"""The largest secretary book taken: generous for instructions and FAQ, far below an event."""
BODY_LIMITS = {"/clients/{client_id}/book": BOOK_BODY_BYTES}


def create_app(settings: Settings, intake_settings: IntakeSettings | None = None) -> FastAPI:
    """The intake service's HTTP API with its event store, relay and read tables."""
    config = intake_settings or IntakeSettings()
    pops = ScreenPops(config.screen_pop_cache_seconds)
    app = create_service_app(
        settings,
        definition(config, pops),
        [
            numbers_api.router,
            router,
            onboarding_api.router,
            handover_api.router,
            billing_api.router,
            book_requests_api.router,
        ],
        # the pool's routes before /numbers/{number}
        title="Frontdesk intake",
        body_limits=BODY_LIMITS,
    )
    app.state.service_settings = config
    app.state.screen_pops = pops
    openapi.install(app)
    return app
