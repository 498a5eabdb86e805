"""Intake's refusals as HTTP answers: unknown 404, conflicting state 409, against the rules 422."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.problems import install_problems
from services.intake.domain import Conflict, DomainError, Invalid, NotFound

STATUS: dict[type[Exception], int] = {NotFound: 404, Conflict: 409, Invalid: 422}


def install(app: FastAPI) -> None:
    """Map domain, validation and body-decoding errors to HTTP answers on the app."""
    install_problems(app, DomainError, STATUS)
