"""Property-based run over the calls OpenAPI spec: whatever is sent, never a 5xx.

Half of the generated requests are pointed at a call and a number that exist, so the
generated bodies reach the domain rules instead of stopping at a 404.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

from tests.calls.conftest import Stack, seed_client

pytestmark = [pytest.mark.infra]
EXAMPLES = 25


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    client = await seed_client(stack, books=1)
    call = await stack.http.post("/calls", json={"dialled_number": client.number})
    known = {"call_id": call.json()["call_id"], "number": client.number}
    spec = (await stack.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec).exclude(tag="operations")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the spec has an operation schemathesis cannot read"
    assert len(operations) >= 11
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, stack.url, known)


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
    """Point a generated request at the existing call (and body at the held number)."""
    if case.path_parameters and "call_id" in case.path_parameters:
        case.path_parameters["call_id"] = known["call_id"]
    body: Any = case.body
    if isinstance(body, dict) and "dialled_number" in body:
        body["dialled_number"] = known["number"]
    return case
