"""Property-based runs over a running service's OpenAPI spec: whatever is sent, never a 5xx.

schemathesis generates valid and invalid requests from the spec; `aim` may point part of them
at records that exist, so they get past the 404s and reach the business rules. (schemathesis'
own pytest plugin does not run on pytest 9, so Hypothesis drives its strategies directly.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

Operation = APIOperation[Any, Any, Any, Any]
Aim = Callable[[Case[Any]], Case[Any]]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def operations_of(schema: Any) -> list[Operation]:
    """Every operation of a loaded schema; fails when one cannot be read."""
    results = list(schema.get_all_operations())
    found = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(found) == len(results), "the spec has an operation schemathesis cannot read"
    return found


def failures_of(operations: list[Operation], attempt: Callable[[Operation], None]) -> list[str]:
    """Try every operation; the failures of all of them, so one report names each."""
    failures = []
    for operation in operations:
        try:
            attempt(operation)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    return failures


def aim_path_at(known: Mapping[str, str]) -> Aim:
    """Put existing ids into the path parameters of those names."""

    def aim(case: Case[Any]) -> Case[Any]:
        for name, value in known.items():
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
        return case

    return aim


def assert_no_server_error(
    operation: Operation, base_url: str, *, aim: Aim | None = None, examples: int = 25
) -> None:
    """Send generated requests (valid and invalid, half of them aimed) and expect no 5xx."""
    generated = [operation.as_strategy(generation_mode=mode) for mode in MODES]
    if aim is not None:
        generated += [strategy.map(aim) for strategy in generated]

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=st.one_of(*generated))
    def no_server_error(case: Case[Any]) -> None:
        response = case.call(base_url=base_url, timeout=10)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )

    no_server_error()
