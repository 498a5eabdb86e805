"""Property-based run over the calls OpenAPI spec: whatever is sent, never a 5xx.

The requests carry the staff credential, so they get past sign-in and reach the routes; half
of them are pointed at a call and a number that exist, so the generated bodies reach the
domain rules instead of stopping at a 404. Without credentials, every route but Twilio's
signed webhooks answers 401 and nothing else.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case

from tests.calls.conftest import seed_client
from tests.support.credentials import STAFF
from tests.support.fuzz import assert_no_server_error, operations_of
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]
EXAMPLES = 50


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    known = await _known(stack)
    schema = schemathesis.openapi.from_dict((await stack.http.get("/openapi.json")).json())
    schema.config.update(headers=STAFF)
    operations = operations_of(schema.exclude(tag="operations"))
    assert len(operations) >= 14
    for operation in operations:
        assert_no_server_error(
            operation, stack.url, aim=lambda case: _aim(case, known), examples=EXAMPLES
        )


async def test_without_credentials_every_route_but_the_webhooks_is_401(stack: Stack) -> None:
    known = await _known(stack)
    spec = (await stack.http.get("/openapi.json")).json()
    routes = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if not {"operations", "telephony"} & set(operation.get("tags", []))
    ]
    assert len(routes) == 16
    async with httpx.AsyncClient(base_url=stack.url) as anonymous:
        for method, path in routes:
            url = path.format(**known)
            response = await anonymous.request(method, url, json={} if method == "POST" else None)
            assert response.status_code == 401, f"{method} {url}: {response.text}"
            assert "www-authenticate" in response.headers


async def _known(stack: Stack) -> dict[str, str]:
    """A call and the number of a client that exist, to aim requests at."""
    client = await seed_client(stack, books=1)
    call = await stack.http.post("/calls", json={"dialled_number": client.number})
    assert call.status_code == 201, call.text
    return {"call_id": call.json()["call_id"], "number": client.number}


def _aim(case: Case[Any], known: dict[str, str]) -> Case[Any]:
    """Point a generated request at the existing call (and body at the held number)."""
    if case.path_parameters and "call_id" in case.path_parameters:
        case.path_parameters["call_id"] = known["call_id"]
    body: Any = case.body
    if isinstance(body, dict) and "dialled_number" in body:
        body["dialled_number"] = known["number"]
    return case
