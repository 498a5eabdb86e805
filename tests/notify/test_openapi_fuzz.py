"""Property-based run over the notify OpenAPI spec: whatever is sent, never a 5xx.

Valid and invalid requests are generated from the spec the running process serves; half of
them are pointed at a client and a notification that exist, so they reach the queries.
The shared operations routes (/clock, /health) come from libs/platform and are left out.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

from tests.notify.conftest import Stack, mails_to, noted_call, notifications, register

pytestmark = [pytest.mark.infra]
EXAMPLES = 25
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


async def test_no_request_gets_a_server_error(stack: Stack) -> None:
    client, inbox = await register(stack, mode="per_call", language="en")
    await noted_call(stack, client, stack.at(9, 50), "Fuzz me")
    await mails_to(stack, inbox, 1)
    [row] = await notifications(stack, client)
    known = {"client_id": str(client), "notification_id": row["notification_id"]}
    spec = (await stack.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec).exclude(tag="operations")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the spec has an operation schemathesis cannot read"
    assert len(operations) >= 3
    for operation in operations:
        _fuzz(operation, stack.notify.url, known)


def _fuzz(operation: APIOperation[Any, Any, Any, Any], url: str, known: dict[str, str]) -> None:
    names = {parameter.name for parameter in operation.path_parameters}
    pinned = {name: value for name, value in known.items() if name in names}
    strategies = [operation.as_strategy(generation_mode=mode) for mode in MODES]
    if pinned:
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=pinned)
        )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(*strategies))
    def no_server_error(case: Case[Any]) -> None:
        response = case.call(base_url=url, timeout=10)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )

    no_server_error()
