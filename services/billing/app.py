"""Composition root of the billing service."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.http import create_service_app
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings

DEFINITION = ServiceDefinition(service="billing")


def create_app(settings: Settings) -> FastAPI:
    """The billing service's HTTP API with its event store, relay and consumers."""
    return create_service_app(settings, DEFINITION, title="Frontdesk billing")
