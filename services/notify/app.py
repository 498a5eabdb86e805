"""Composition root of the notify service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.notify import api, reactions
from services.notify.migrations import MIGRATIONS
from services.notify.notifier import Notifier, bootstrap
from services.notify.settings import NotifySettings
from services.notify.workers import schedule, sender


def definition(notifier: Notifier) -> ServiceDefinition:
    """Notify's tables, its three subscriptions and its two workers (schedule and sender)."""
    return ServiceDefinition(
        service="notify",
        migrations=MIGRATIONS,
        subscriptions=lambda settings: reactions.subscriptions(settings, notifier),
        workers={"digest-schedule": schedule.worker(notifier), "sender": sender.worker(notifier)},
    )


def create_app(settings: Settings, notifier: Notifier | None = None) -> FastAPI:
    """The notify service's HTTP API with its event store, relay, consumer and workers."""
    notifier = notifier or bootstrap(NotifySettings())
    app = create_service_app(
        settings, definition(notifier), routers=(api.router,), title="Frontdesk notify"
    )
    app.state.notifier = notifier
    app.state.service_settings = notifier.settings
    return app
