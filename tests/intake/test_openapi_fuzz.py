"""Property-based run over the intake OpenAPI spec: whatever comes in, never a 5xx.

Valid and invalid requests are generated from the spec the running process serves, sent with
the staff credential so they get past sign-in and reach the routes (and the domain: part of
them are pinned to a client, its number and an API key that exist). Each
operation is driven by its own Hypothesis test: schemathesis' lazy `from_fixture` loader reads
`request.node._nodeid`, which pytest 9.2 no longer has, so the loop below stands in for it.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.builders import fresh_number
from tests.support.credentials import STAFF
from tests.support.fuzz import failures_of, operations_of
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.infra]

NO_CRASH = [not_a_server_error]
# Intake's own operations must also answer as their spec says. The shared operations routes
# (/clock, /health) come from libs/platform; there only the absence of 5xx is asserted here.
AS_DOCUMENTED = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Readiness legitimately answers 503 while Kafka is unreachable: that is not a crash.
SKIPPED = {("GET", "/health/ready")}


@pytest.fixture(scope="module")
def intake_schema(intake: ServiceProcess) -> schemathesis.BaseSchema:
    """The OpenAPI spec the running intake process serves."""
    return schemathesis.openapi.from_url(f"{intake.url}/openapi.json", timeout=10)


@pytest.fixture(scope="module")
def known(intake: ServiceProcess) -> dict[str, str]:
    """Path parameters naming a real client, its number and a key, so requests reach the domain."""
    with httpx.Client(base_url=intake.url, headers=STAFF) as staff:
        form = {"name": "Fuzz BV", "contact_email": "fuzz@example.nl", "language": "en"}
        client = staff.post("/clients", json=form).json()["client_id"]
        number = fresh_number()
        assigned = staff.post(f"/clients/{client}/numbers", json={"number": number})
        assert assigned.status_code == 201, assigned.text
        key = {"client_id": client, "role": "client", "name": "fuzz CRM"}
        key_id = staff.post("/api-keys", json=key).json()["key_id"]
    return {"client_id": client, "number": number, "key_id": key_id}


def _strategies(
    operation: schemathesis.APIOperation, known: dict[str, str]
) -> list[st.SearchStrategy[schemathesis.Case]]:
    names = {parameter.name for parameter in operation.path_parameters}
    pinned = {name: value for name, value in known.items() if name in names}
    strategies = [operation.as_strategy(mode) for mode in MODES]
    if pinned and not operation.path.endswith("/offboard"):  # keep the known client alive
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned))
    return strategies


def _fuzz(operation: schemathesis.APIOperation, known: dict[str, str]) -> None:
    checks = AS_DOCUMENTED if "intake" in (operation.tags or ()) else NO_CRASH
    strategy = st.one_of(*_strategies(operation, known))

    @given(case=strategy)
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=STAFF, checks=checks, timeout=10)

    run()


def test_no_request_makes_the_intake_api_fail(
    intake_schema: schemathesis.BaseSchema, known: dict[str, str]
) -> None:
    operations = [
        op for op in operations_of(intake_schema) if (op.method.upper(), op.path) not in SKIPPED
    ]
    assert len(operations) >= 18
    failures = failures_of(operations, lambda operation: _fuzz(operation, known))
    assert not failures, "\n\n".join(failures)


def test_without_credentials_every_intake_route_is_401(
    intake: ServiceProcess, intake_schema: schemathesis.BaseSchema, known: dict[str, str]
) -> None:
    routes = [
        (op.method.upper(), op.path.format(**known))
        for op in operations_of(intake_schema)
        if "intake" in (op.tags or ())
    ]
    assert len(routes) == 33
    with httpx.Client(base_url=intake.url, timeout=10) as anonymous:
        for method, url in routes:
            answer = anonymous.request(method, url, json={} if method in ("POST", "PUT") else None)
            assert answer.status_code == 401, f"{method} {url}: {answer.text}"
            assert "www-authenticate" in answer.headers
