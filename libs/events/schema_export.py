"""Write (or `--check`) the committed JSON Schema of every event: `schemas/<Type>.v<N>.json`.

Run `python -m libs.events.schemas`. A file for the current version is rewritten only when the
change is backward compatible; an incompatible change needs a new `schema_version` and an
upcaster, and the old version's file stays.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from libs.events.catalogue import EVENT_TYPES, type_name
from libs.events.compat import incompatibilities
from libs.events.envelope import Event

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_file_name(event_type: type[Event]) -> str:
    """The file name of an event class's current schema, e.g. `CallReceived.v1.json`."""
    return f"{type_name(event_type)}.v{event_type.current_schema_version()}.json"


def render_schema(event_type: type[Event]) -> str:
    """The JSON Schema of an event class as committed: sorted keys, indent 2, final newline."""
    return json.dumps(event_type.model_json_schema(), sort_keys=True, indent=2) + "\n"


def generated_schemas() -> dict[str, str]:
    """The current schema text of every event type, by file name."""
    return {schema_file_name(cls): render_schema(cls) for cls in EVENT_TYPES.values()}


def committed_schemas(directory: Path = SCHEMA_DIR) -> dict[str, str]:
    """The committed schema files, by file name."""
    return {path.name: path.read_text("utf-8") for path in sorted(directory.glob("*.v*.json"))}


@dataclass(frozen=True)
class ExportPlan:
    """What an export would do: files to write and files it refuses to overwrite (and why)."""

    writes: dict[str, str] = field(default_factory=dict)
    refused: dict[str, list[str]] = field(default_factory=dict)


def plan_export(committed: Mapping[str, str], generated: Mapping[str, str]) -> ExportPlan:
    """Decide which generated files to write: new ones, and compatible changes of old ones."""
    plan = ExportPlan()
    for name, text in generated.items():
        old = committed.get(name)
        if old == text:
            continue
        problems = [] if old is None else incompatibilities(json.loads(old), json.loads(text))
        if problems:
            plan.refused[name] = problems
        else:
            plan.writes[name] = text
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m libs.events.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema directory")
    args = parser.parse_args(argv)
    plan = plan_export(committed_schemas(args.dir), generated_schemas())
    for name, problems in plan.refused.items():
        print(f"{name}: incompatible change, bump schema_version and add an upcaster:")
        print("".join(f"  - {problem}\n" for problem in problems), end="")
    if args.check:
        for name in plan.writes:
            print(f"{name}: stale, run python -m libs.events.schemas")
        return 1 if plan.writes or plan.refused else 0
    for name, text in plan.writes.items():
        (args.dir / name).write_text(text, "utf-8")
        print(f"wrote {name}")
    return 1 if plan.refused else 0


if __name__ == "__main__":
    sys.exit(main())
