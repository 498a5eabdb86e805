"""Property-based run over the routing OpenAPI spec: whatever is sent, never a 5xx.

Schemathesis' pytest integration does not work on pytest 9, so each operation is driven by
its own Hypothesis test. Half of the generated requests are pointed at an operator, a call
and an escalation that exist, so generated bodies reach the rules instead of a 404. The
shared operations routes (/clock, /health) are left out: moving the shared clock at random
would disturb every other test.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

from tests.routing.conftest import Stack, escalate, escalation, receive, seed_client

pytestmark = [pytest.mark.infra]
EXAMPLES = 15


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    known = await _known(stack)
    spec = (await stack.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec).exclude(tag="operations")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the spec has an operation schemathesis cannot read"
    assert len(operations) >= 9
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, stack.routing.url, known)


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


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    url: str,
    known: dict[str, str],
) -> None:
    generated = operation.as_strategy(generation_mode=mode)
    cases = st.one_of(generated, generated.map(lambda case: _aim(case, known)))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def no_server_error(case: Case[Any]) -> None:
        response = case.call(base_url=url)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )

    no_server_error()


def _aim(case: Case[Any], known: dict[str, str]) -> Case[Any]:
    """Point a generated request's path at the operator, call or escalation that exists."""
    for name, value in known.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    return case
