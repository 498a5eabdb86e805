"""Refusals as HTTP answers, in one place: 401, 403, 404, 409, 422 and 503 with a `Problem` body.

Every service's app answers the shared domain errors (libs.errors) with one status per kind;
malformed requests (validation errors, bodies that are not UTF-8 JSON) become 422 listing
every problem as `where: what`, without echoing the input. A request that cannot be served
because PostgreSQL is away (or the service is still starting) is 503 with Retry-After.
The routes document their refusals with `refusals(...)`, which describes them per route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from libs.errors import Conflict, DomainError, Forbidden, NotFound, Rejected, Unauthenticated
from libs.platform.outages import DATABASE_OUTAGES, RETRY_AFTER_SECONDS, ServiceUnavailable

UNPARSEABLE_BODY = "There was an error parsing the body"  # FastAPI's 400 for non-UTF-8 bodies
STATUSES: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Rejected: 422,
    Forbidden: 403,
    Unauthenticated: 401,
}
"""Each kind of domain refusal and its HTTP status: the one place they are mapped."""
Responses = dict[int | str, dict[str, Any]]


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


def status_of(error: DomainError) -> int:
    """The HTTP status of a refusal's kind (422 for a bare DomainError)."""
    return next((code for kind, code in STATUSES.items() if isinstance(error, kind)), 422)


async def domain_error(_: Request, exc: Exception) -> JSONResponse:
    """A refusal: its kind's status, its message as the detail."""
    assert isinstance(exc, DomainError)
    response = problem(status_of(exc), str(exc), exc.errors)
    if isinstance(exc, Unauthenticated):  # RFC 6750: say which scheme, and if a token was bad
        bad = "" if exc.missing_credentials else ' error="invalid_token"'
        response.headers["WWW-Authenticate"] = f"Bearer{bad}"
    return response


def install_problems(app: FastAPI) -> None:
    """Map domain errors, validation errors and undecodable bodies to answers."""
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)


def refusals(
    *,
    not_found: str = "",
    conflict: str = "",
    rejected: str = "",
    forbidden: str = "",
    unauthenticated: str = "",
) -> Responses:
    """OpenAPI `responses=` for the refusals a route makes, each described for that route."""
    described: dict[type[DomainError], str] = {
        NotFound: not_found,
        Conflict: conflict,
        Rejected: rejected,
        Forbidden: forbidden,
        Unauthenticated: unauthenticated,
    }
    return {
        STATUSES[kind]: {"model": Problem, "description": text}
        for kind, text in described.items()
        if text
    }


EVERY_ROUTE: Responses = {
    401: {"model": Problem, "description": "No valid credentials, where the route needs some"},
    403: {"model": Problem, "description": "Signed in, but not in a role that may do this"},
    408: {"model": Problem, "description": "The request body did not arrive in time"},
    413: {"model": Problem, "description": "The request body is larger than this route takes"},
    429: {"model": Problem, "description": "Too many requests from this caller; see Retry-After"},
}
"""What the limits and the sign-in in front of every route may answer, on each route."""


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
