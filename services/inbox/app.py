"""Composition root of the inbox service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.sealed import SecretBox, box_of
from libs.platform.settings import Settings
from services.inbox import api, directory, follow_ups
from services.inbox.migrations import MIGRATIONS
from services.inbox.settings import InboxSettings
from services.inbox.workers import imap_reader, listener, outbox, timers


def definition(config: InboxSettings, box: SecretBox | None) -> ServiceDefinition:
    """The inbox's tables, its projections, the SMTP listener, the IMAP reader, the
    conversation timers and the outbox that sends replies and forwards."""
    return ServiceDefinition(
        service="inbox",
        migrations=MIGRATIONS,
        subscriptions=lambda settings: (
            *directory.subscriptions(settings),
            follow_ups.subscription(settings),
        ),
        workers={
            "smtp-listener": listener.worker(config),
            "imap-reader": imap_reader.worker(config, box),
            "inbox-timers": timers.worker(config),
            "inbox-outbox": outbox.worker(config),
        },
    )


def create_app(settings: Settings, inbox_settings: InboxSettings | None = None) -> FastAPI:
    """The inbox service's HTTP API with its event store, relay, consumers and workers."""
    config = inbox_settings or InboxSettings()
    box = box_of(settings.secret_keys)
    app = create_service_app(
        settings, definition(config, box), routers=(api.router,), title="Frontdesk inbox"
    )
    app.state.service_settings = config
    return app
