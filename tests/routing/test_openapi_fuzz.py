"""Property-based run over the routing OpenAPI spec: whatever is sent, never a 5xx.

Schemathesis' pytest integration does not work on pytest 9, so each operation is driven by
its own Hypothesis test. Half of the generated requests are pointed at an operator, a call
and an escalation that exist, so generated bodies reach the rules instead of a 404. The
shared operations routes (/clock, /health) are left out: moving the shared clock at random
would disturb every other test. Every request carries the staff credential, so each route
does its work instead of answering 401.
"""

from __future__ import annotations

import pytest
import schemathesis

from tests.routing.conftest import escalate, escalation, receive, seed_client
from tests.support.credentials import STAFF
from tests.support.fuzz import aim_path_at, assert_no_server_error, operations_of
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]
EXAMPLES = 30


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    known = await _known(stack)
    spec = (await stack.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(headers=STAFF)  # as staff: every route serves, none is only a 401/403
    operations = operations_of(schema.exclude(tag="operations"))
    assert len(operations) >= 9
    for operation in operations:
        assert_no_server_error(operation, stack.url, aim=aim_path_at(known), examples=EXAMPLES)


async def _known(stack: Stack) -> dict[str, str]:
    client = await seed_client(stack)
    call = await receive(stack, client, "2026-06-01T08:00:00+00:00")
    requested = await escalate(stack, call)
    await escalation(stack, requested.escalation_id, attempts=1)
    operator = {"name": "Fuzz", "languages": ["nl"]}
    assert (await stack.http.put("/operators/op-fuzz", json=operator)).status_code == 200
    return {
        "operator_id": "op-fuzz",
        "call_id": str(call.call_id),
        "escalation_id": str(requested.escalation_id),
    }
