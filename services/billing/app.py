"""Composition root of the billing service."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from libs.platform.consumer import Subscription
from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings
from services.billing import api, reactions
from services.billing.migrations import MIGRATIONS
from services.billing.settings import BillingSettings
from services.billing.workers import reminders, sender


def definition(billing: BillingSettings) -> ServiceDefinition:
    """Billing's tables, its consumer of the intake, calls, notify and billing topics, and its
    mail sender and reminder timer (when it mails)."""

    def subscriptions(settings: Settings) -> Sequence[Subscription]:
        return reactions.subscriptions(settings, billing)

    workers = (
        {"billing-mail-sender": sender.worker(billing),
         "billing-reminders": reminders.worker(billing)}
        if billing.mail_enabled else {}
    )  # fmt: skip
    return ServiceDefinition(
        service="billing", migrations=MIGRATIONS, subscriptions=subscriptions, workers=workers
    )


def create_app(settings: Settings, billing_settings: BillingSettings | None = None) -> FastAPI:
    """The billing service's HTTP API with its event store, relay and consumer."""
    billing = billing_settings or BillingSettings()
    app = create_service_app(
        settings, definition(billing), routers=(api.router,), title="Frontdesk billing"
    )
    app.state.service_settings = billing
    return app
