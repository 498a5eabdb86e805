"""Property-based run over the billing OpenAPI spec: whatever comes in, never a 5xx.

The requests carry the staff credential, so they get past sign-in and reach the routes (a
staff request is never refused as unauthenticated or forbidden); without one, every billing
route answers 401. Each operation is driven by its own Hypothesis test (schemathesis' pytest
loader does not work on pytest 9); path parameters are also pinned to a real client and
invoice so that requests reach the domain, not only the validation.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response

from libs.events import new_id
from tests.billing.conftest import BillingStack
from tests.billing.history import call, registered, reported
from tests.support.credentials import STAFF
from tests.support.fuzz import failures_of, operations_of

pytestmark = [pytest.mark.infra]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
SKIPPED = {("GET", "/health/ready")}  # 503 while a dependency is away is not a crash
EXAMPLES = {"/replays": 4}  # each replay reads the log: keep these few


@pytest.fixture(scope="module")
async def known(stack: BillingStack) -> dict[str, str]:
    """A client with an invoiced January, for path parameters."""
    client = new_id()
    first = call(client, "2026-01-05T09:00:00")
    events = [registered(client, "2025-12-01T08:00:00"), first,
              reported(client, [first], "2026-01-05T16:15:00")]  # fmt: skip
    await stack.append(events)
    await stack.until_billing_has(events)
    run = (await stack.http.post("/invoices/run", json={"period": "2026-01"})).json()
    invoice = run["results"][0]["invoice_id"]
    return {"client_id": str(client), "invoice_id": invoice, "credit_note_id": invoice}


def staff_get_in(_: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Staff may call every billing route: no 401 or 403, whatever the request holds."""
    assert response.status_code not in (401, 403), f"staff got {response.status_code}"
    return None


def _fuzz(operation: schemathesis.APIOperation, known: dict[str, str]) -> None:
    names = {parameter.name for parameter in operation.path_parameters}
    pinned = {name: value for name, value in known.items() if name in names}
    strategies = [operation.as_strategy(mode) for mode in MODES]
    if pinned:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned))

    @given(case=st.one_of(*strategies))
    @settings(max_examples=EXAMPLES.get(operation.path, 12), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=STAFF, checks=[not_a_server_error, staff_get_in],
                               timeout=60)  # fmt: skip

    run()


def test_no_request_makes_the_billing_api_fail(stack: BillingStack, known: dict[str, Any]) -> None:
    spec = schemathesis.openapi.from_url(f"{stack.process.url}/openapi.json", timeout=10)
    operations = [op for op in operations_of(spec) if (op.method.upper(), op.path) not in SKIPPED]
    assert len(operations) >= 14
    failures = failures_of(operations, lambda operation: _fuzz(operation, known))
    assert not failures, "\n\n".join(failures)


async def test_without_credentials_every_billing_route_is_401(
    stack: BillingStack, known: dict[str, str]
) -> None:
    spec = (await stack.http.get("/openapi.json")).json()
    routes = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "billing" in operation.get("tags", [])
    ]
    assert len(routes) == 16
    async with httpx.AsyncClient(base_url=stack.process.url) as anonymous:
        for method, path in routes:
            url = path.format(**known)
            response = await anonymous.request(method, url, json={} if method == "POST" else None)
            assert response.status_code == 401, f"{method} {url}: {response.text}"
