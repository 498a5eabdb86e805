"""Composition root of the calendar service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.sealed import SecretBox, box_of
from libs.platform.settings import Settings
from services.calendar import api, reactions
from services.calendar.migrations import MIGRATIONS
from services.calendar.settings import CalendarSettings
from services.calendar.workers import callbacks, observe


def definition(config: CalendarSettings, box: SecretBox | None) -> ServiceDefinition:
    """The calendar's tables, its consumers (intake, routing, calls), the calendar reads and
    the callback timers."""
    return ServiceDefinition(
        service="calendar",
        migrations=MIGRATIONS,
        subscriptions=reactions.subscriptions,
        workers={
            "calendar-reads": observe.worker(config, box),
            "callback-timers": callbacks.worker(config, box),
        },
    )


def create_app(settings: Settings, calendar_settings: CalendarSettings | None = None) -> FastAPI:
    """The calendar service's HTTP API with its event store, relay, consumers and workers."""
    config = calendar_settings or CalendarSettings()
    box = box_of(settings.secret_keys)
    app = create_service_app(
        settings, definition(config, box), routers=(api.router,), title="Frontdesk calendar"
    )
    app.state.service_settings = config
    return app
