"""The committed JSON Schemas: present, up to date, and never broken without a new version."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from libs.events import EVENT_TYPES, UPCASTERS, Event, encode
from libs.events.compat import incompatibilities
from libs.events.schema_export import (
    committed_schemas,
    generated_schemas,
    main,
    plan_export,
    schema_file_name,
)
from tests.events.samples import all_samples

COMMITTED = committed_schemas()
GENERATED = generated_schemas()
FILE_NAME = re.compile(r"^(?P<type>[A-Za-z]+)\.v(?P<version>[1-9][0-9]*)\.json$")


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_current_version_has_a_committed_schema(name: str) -> None:
    file_name = schema_file_name(EVENT_TYPES[name])
    assert file_name in COMMITTED, f"{file_name} missing: run python -m libs.events.schemas"


@pytest.mark.parametrize("file_name", sorted(COMMITTED))
def test_committed_schema_is_readable_by_the_current_model(file_name: str) -> None:
    match = FILE_NAME.match(file_name)
    assert match, f"{file_name}: expected <Type>.v<N>.json"
    name, version = match["type"], int(match["version"])
    assert name in EVENT_TYPES, f"{name} was removed from the catalogue but its schema remains"
    current = EVENT_TYPES[name].current_schema_version()
    assert version <= current, f"{file_name} is newer than the model ({current})"
    if version < current:
        missing = [v for v in range(version, current) if (name, v) not in UPCASTERS]
        assert not missing, f"{name}: no upcaster from schema_version {missing}"
        return
    problems = incompatibilities(json.loads(COMMITTED[file_name]), json.loads(GENERATED[file_name]))
    assert not problems, (
        f"{name} changed incompatibly: bump its schema_version, add an upcaster "
        "and commit the new schema file next to the old one:\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_committed_schema_is_up_to_date(file_name: str) -> None:
    assert COMMITTED.get(file_name) == GENERATED[file_name], (
        f"{file_name} is stale: run python -m libs.events.schemas"
    )


def test_export_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("event", all_samples(), ids=lambda e: e.type)
def test_wire_form_matches_the_committed_schema(event: Event) -> None:
    committed = COMMITTED.get(schema_file_name(type(event)))
    assert committed, f"no committed schema for {event.type}"
    schema = json.loads(committed)
    Draft202012Validator(schema).validate(json.loads(encode(event)))


# --- the export plan ---------------------------------------------------------------------

OLD = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def _text(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, indent=2) + "\n"


def test_export_writes_new_files_and_skips_unchanged_ones() -> None:
    plan = plan_export({"A.v1.json": _text(OLD)}, {"A.v1.json": _text(OLD), "B.v1.json": "{}\n"})
    assert plan.writes == {"B.v1.json": "{}\n"}
    assert plan.refused == {}


def test_export_rewrites_a_compatibly_changed_file() -> None:
    grown = {**OLD, "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    plan = plan_export({"A.v1.json": _text(OLD)}, {"A.v1.json": _text(grown)})
    assert plan.writes == {"A.v1.json": _text(grown)}


def test_export_refuses_to_overwrite_with_a_breaking_change() -> None:
    retyped = {**OLD, "properties": {"a": {"type": "integer"}}}
    plan = plan_export({"A.v1.json": _text(OLD)}, {"A.v1.json": _text(retyped)})
    assert plan.writes == {}
    assert plan.refused == {"A.v1.json": ["a: type changed from string to integer"]}
