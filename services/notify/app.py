"""Composition root of the notify service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings

DEFINITION = ServiceDefinition(service="notify")


def create_app(settings: Settings) -> FastAPI:
    """The notify service's HTTP API with its event store, relay and consumers."""
    return create_service_app(settings, DEFINITION, title="Frontdesk notify")
