"""Every kind of shared domain error answers with its one status and a Problem body."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from libs.errors import Conflict, DomainError, Forbidden, NotFound, Rejected
from libs.platform.problems import Problem, install_problems, refusals


class NoSuchLine(NotFound):
    """A service's named refusal: still a NotFound."""


def refusing_app(error: DomainError) -> FastAPI:
    """An app with one route that refuses with the given error."""
    app = FastAPI()
    install_problems(app)

    @app.get("/refuse")
    async def refuse() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no call 7"), 404),
        (NoSuchLine("no call 7"), 404),
        (Conflict("no call 7"), 409),
        (Rejected("no call 7"), 422),
        (Forbidden("no call 7"), 403),
        (DomainError("no call 7"), 422),
    ],
)
async def test_each_kind_answers_its_status_with_the_message(
    error: DomainError, status: int
) -> None:
    transport = httpx.ASGITransport(app=refusing_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/refuse")
    assert response.status_code == status
    assert response.json() == {"detail": "no call 7", "errors": []}


def test_refusals_document_only_the_kinds_a_route_names() -> None:
    documented = refusals(not_found="No such call", forbidden="Not a valid link")
    assert documented == {
        404: {"model": Problem, "description": "No such call"},
        403: {"model": Problem, "description": "Not a valid link"},
    }
