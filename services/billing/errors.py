"""Domain and validation errors as HTTP answers, in one place: 404, 409 and 422."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from services.billing.domain import BillingError, Conflict, NotFound, Rejected
from services.billing.schemas import Problem

STATUS: dict[type[BillingError], int] = {NotFound: 404, Conflict: 409, Rejected: 422}
UNPARSEABLE_BODY = "There was an error parsing the body"  # FastAPI's 400 for non-UTF-8 bodies


def _safe(text: str) -> str:
    # Messages may quote input; lone surrogates would break the UTF-8 response body.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problem(status: int, detail: str, errors: Sequence[str] = ()) -> JSONResponse:
    """A Problem body with a status."""
    body = Problem(detail=_safe(detail), errors=[_safe(e) for e in errors])
    return JSONResponse(body.model_dump(), status_code=status)


async def domain_error(_: Request, exc: Exception) -> JSONResponse:
    """A refused command: 404 unknown, 409 conflicting state, 422 against the rules."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 422)
    return problem(status, str(exc))


def describe(error: Any) -> str:
    """One validation error as `where: what`, without echoing the input."""
    if error.get("type") == "json_invalid":
        return "body: not valid JSON"
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


def install(app: FastAPI) -> None:
    """Map domain, validation and body-decoding errors to HTTP answers on the app."""
    app.add_exception_handler(BillingError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
