"""Property-based run over the routing OpenAPI spec: whatever is sent, never a 5xx.

Schemathesis' pytest integration does not work on pytest 9, so each operation is driven by
its own Hypothesis test. Half of the generated requests are pointed at an operator, a call
and an escalation that exist, so generated bodies reach the rules instead of a 404. The
shared operations routes (/clock, /health) are left out: moving the shared clock at random
would disturb every other test. Every request carries the staff credential, so each route
does its work instead of answering 401.

The operator's feed is a stream that stays open: it is fuzzed on its own, every request with
`once=true` (the backlog, then the end), since an open stream would only time out.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case

from tests.routing.conftest import escalate, escalation, receive, seed_client
from tests.support.credentials import STAFF
from tests.support.fuzz import MODES, Aim, aim_path_at, assert_no_server_error, operations_of
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]
EXAMPLES = 30
FEED = "/operators/{operator_id}/feed"


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    known = await _known(stack)
    spec = (await stack.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(headers=STAFF)  # as staff: every route serves, none is only a 401/403
    operations = operations_of(schema.exclude(tag="operations").exclude(path=FEED))
    assert len(operations) >= 9
    for operation in operations:
        assert_no_server_error(operation, stack.url, aim=aim_path_at(known), examples=EXAMPLES)
    [feed] = operations_of(schema.include(path=FEED))
    assert_no_feed_server_error(feed, stack.url, aim_path_at(known))


def assert_no_feed_server_error(operation: Any, base_url: str, aim: Aim) -> None:
    """Generated feed requests (half aimed at a known operator), each ending with `once`."""
    generated = [operation.as_strategy(generation_mode=mode) for mode in MODES]
    generated += [strategy.map(aim) for strategy in generated]

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=st.one_of(*generated).map(ending))
    def no_server_error(case: Case[Any]) -> None:
        response = case.call(base_url=base_url, timeout=10)
        assert response.status_code < 500, f"{case.formatted_path} -> {response.text[:500]}"

    no_server_error()


def ending(case: Case[Any]) -> Case[Any]:
    """The case with `once=true`: the stream sends what there is and ends."""
    case.query = {**(case.query or {}), "once": "true"}
    return case


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
