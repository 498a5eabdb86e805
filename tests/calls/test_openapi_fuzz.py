"""Property-based run over the calls OpenAPI spec: whatever is sent, never a 5xx.

Half of the generated requests are pointed at a call and a number that exist, so the
generated bodies reach the domain rules instead of stopping at a 404.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis import Case

from tests.calls.conftest import seed_client
from tests.support.fuzz import assert_no_server_error, operations_of
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]
EXAMPLES = 50


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    client = await seed_client(stack, books=1)
    call = await stack.http.post("/calls", json={"dialled_number": client.number})
    known = {"call_id": call.json()["call_id"], "number": client.number}
    spec = (await stack.http.get("/openapi.json")).json()
    operations = operations_of(schemathesis.openapi.from_dict(spec).exclude(tag="operations"))
    assert len(operations) >= 11
    for operation in operations:
        assert_no_server_error(
            operation, stack.url, aim=lambda case: _aim(case, known), examples=EXAMPLES
        )


def _aim(case: Case[Any], known: dict[str, str]) -> Case[Any]:
    """Point a generated request at the existing call (and body at the held number)."""
    if case.path_parameters and "call_id" in case.path_parameters:
        case.path_parameters["call_id"] = known["call_id"]
    body: Any = case.body
    if isinstance(body, dict) and "dialled_number" in body:
        body["dialled_number"] = known["number"]
    return case
