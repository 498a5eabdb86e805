"""The served OpenAPI spec, corrected where FastAPI's generated one says less than the truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from libs.platform.problems import Problem

LOCAL_TIME = {
    "type": "string",
    "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:00)?$",
    "description": "A wall-clock time in the client's time zone, HH:MM, without an offset",
}
Fix = Callable[[dict[str, Any]], None]


def document_problems(spec: dict[str, Any]) -> None:
    """Every 422 answers with a Problem (our handler's shape), not FastAPI's default body."""
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            if response is not None:
                response["content"] = {"application/json": {"schema": problem}}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema()
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def local_times_without_offset(node: Any) -> None:
    """JSON Schema's `format: time` demands an offset; our local times (17:15) have none."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            node.pop("format")
            node.update(LOCAL_TIME)
        for value in node.values():
            local_times_without_offset(value)
    elif isinstance(node, list):
        for value in node:
            local_times_without_offset(value)


FIXES: tuple[Fix, ...] = (document_problems, local_times_without_offset)


def install(app: FastAPI) -> None:
    """Serve the generated spec with FIXES applied (once; FastAPI caches it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            for fix in FIXES:
                fix(spec)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
