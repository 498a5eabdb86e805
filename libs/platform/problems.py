"""Refusals as HTTP answers, in one place: 404, 409, 422 and 503 with a readable `Problem` body.

A service installs these with its domain error base class and a status per error kind;
malformed requests (validation errors, bodies that are not UTF-8 JSON) become 422 listing
every problem as `where: what`, without echoing the input. A request that cannot be served
because PostgreSQL is away (or the service is still starting) is 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from libs.platform.outages import DATABASE_OUTAGES, RETRY_AFTER_SECONDS, ServiceUnavailable

UNPARSEABLE_BODY = "There was an error parsing the body"  # FastAPI's 400 for non-UTF-8 bodies


class Problem(BaseModel):
    """An error: a readable message, and for validation errors where each problem is."""

    detail: str
    errors: list[str] = []


def _safe(text: str) -> str:
    # Messages may quote input; lone surrogates would break the UTF-8 response body.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problem(status: int, detail: str, errors: Sequence[str] = ()) -> JSONResponse:
    """A Problem body with a status."""
    body = Problem(detail=_safe(detail), errors=[_safe(e) for e in errors])
    return JSONResponse(body.model_dump(), status_code=status)


def describe(error: Any) -> str:
    """One validation error as `where: what`, without echoing the input."""
    if error.get("type") == "json_invalid":
        position = error.get("loc", ("body", "?"))[-1]
        return f"body: not valid JSON ({error.get('ctx', {}).get('error')} at character {position})"
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """A malformed request: 422 listing every problem readably."""
    assert isinstance(exc, RequestValidationError)
    errors = [describe(e) for e in exc.errors()]
    return problem(422, "invalid request: " + "; ".join(errors[:5]), errors)


async def http_error(request: Request, exc: Exception) -> Response:
    """A body FastAPI cannot even decode is malformed input like any other: 422."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == UNPARSEABLE_BODY:
        return problem(422, "invalid request: the body is not UTF-8 encoded JSON")
    return await http_exception_handler(request, exc)


def install_problems(
    app: FastAPI, base: type[Exception], statuses: Mapping[type[Exception], int]
) -> None:
    """Map a service's domain errors, validation errors and undecodable bodies to answers."""

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in statuses.items() if isinstance(exc, kind)), 422)
        return problem(status, str(exc))

    app.add_exception_handler(base, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)


async def unavailable(_: Request, exc: Exception) -> JSONResponse:
    """A dependency is away: 503, try again shortly (nothing was changed)."""
    if isinstance(exc, ServiceUnavailable):
        detail = f"service unavailable: {exc}"
    else:
        detail = "service unavailable: the database cannot be reached right now"
    response = problem(503, detail + f"; try again in {RETRY_AFTER_SECONDS} s")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def install_outages(app: FastAPI) -> None:
    """Answer 503 with Retry-After, never 500, while the database or the service is not up."""
    kinds: tuple[type[Exception], ...] = (ServiceUnavailable, *DATABASE_OUTAGES)
    for kind in kinds:
        app.add_exception_handler(kind, unavailable)
