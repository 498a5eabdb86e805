"""Backward-compatibility check between two JSON Schemas of one event (pure, no I/O).

A change is compatible when every payload the old schema accepts is still accepted by the new
one, so consumers running new code can read events written by old code. The check is
conservative and covers the JSON Schema that pydantic generates: objects, arrays, unions,
`$ref`s into `$defs`, types, formats, enums/consts and the usual length and range limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]
Problem = tuple[str, str]
"""Where (a dotted field path, `[]` for array items) and what."""

_LIMITS_LOWER_IS_TIGHTER = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LIMITS_HIGHER_IS_TIGHTER = (
    "minLength",
    "minItems",
    "minProperties",
    "minimum",
    "exclusiveMinimum",
)


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Ways in which data valid under `old` may be rejected by `new`; empty when compatible."""
    problems = _Comparison(old, new).compare(old, new, "")
    return [f"{path or '(event)'}: {what}" for path, what in problems]


class _Comparison:
    """Walks two schemas side by side, resolving each `$ref` in its own root's `$defs`."""

    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.memo: dict[tuple[str, str], list[Problem]] = {}

    def compare(self, old: Schema, new: Schema, path: str) -> list[Problem]:
        """Problems with reading data valid under `old` through `new`, located under `path`."""
        if "$ref" in old and "$ref" in new and len(old) == len(new) == 1:
            return [(_join(path, p), w) for p, w in self._compare_refs(old["$ref"], new["$ref"])]
        old, new = _resolve(old, self.old_root), _resolve(new, self.new_root)
        if _variants(old) or _variants(new):
            return self._compare_unions(old, new, path)
        retyped = _compare_types(old, new, path)
        if retyped:  # a new type makes the finer differences noise
            return retyped
        return [
            *_compare_values(old, new, path),
            *_compare_limits(old, new, path),
            *self._compare_objects(old, new, path),
            *self._compare_arrays(old, new, path),
        ]

    def _compare_refs(self, old_ref: str, new_ref: str) -> list[Problem]:
        key = (old_ref, new_ref)
        if key not in self.memo:
            self.memo[key] = []  # a recursive schema meets itself: assume compatible meanwhile
            old, new = _follow(old_ref, self.old_root), _follow(new_ref, self.new_root)
            self.memo[key] = self.compare(old, new, "")
        return self.memo[key]

    def _compare_unions(self, old: Schema, new: Schema, path: str) -> list[Problem]:
        problems: list[Problem] = []
        for old_variant in _variants(old) or [old]:
            candidates = [self.compare(old_variant, nv, path) for nv in _variants(new) or [new]]
            closest: list[Problem] = min(candidates, key=len)
            problems.extend(closest)
        return problems

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> list[Problem]:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        problems = [(_join(path, n), "field removed") for n in old_props if n not in new_props]
        for name in sorted(old_props.keys() & new_props.keys()):
            problems.extend(self.compare(old_props[name], new_props[name], _join(path, name)))
        added = set(new.get("required", ())) - set(old.get("required", ()))
        problems.extend((_join(path, n), "new required field") for n in sorted(added))
        return problems + self._compare_extras(old, new, path)

    def _compare_extras(self, old: Schema, new: Schema, path: str) -> list[Problem]:
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if new_extra is False and old_extra is not False and "properties" in old:
            return [(path, "additional properties are no longer allowed")]
        if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            return self.compare(old_extra, new_extra, _join(path, "*"))
        return []

    def _compare_arrays(self, old: Schema, new: Schema, path: str) -> list[Problem]:
        problems: list[Problem] = []
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
            problems.extend(self.compare(old_items, new_items, _join(path, "[]")))
        old_prefix, new_prefix = old.get("prefixItems", []), new.get("prefixItems", [])
        if len(old_prefix) != len(new_prefix):
            problems.append((path, f"tuple length changed from {len(old_prefix)}"))
        for index, (o, n) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            problems.extend(self.compare(o, n, _join(path, f"[{index}]")))
        return problems


def _compare_types(old: Schema, new: Schema, path: str) -> list[Problem]:
    old_types, new_types = _types(old), _types(new)
    problems = []
    if new_types is not None:
        accepted = new_types | ({"integer"} if "number" in new_types else set())
        if old_types is None or not old_types <= accepted:
            problems.append((path, f"type changed from {_show(old_types)} to {_show(new_types)}"))
    if "format" in new and old.get("format") != new["format"]:
        problems.append((path, f"format changed from {old.get('format')} to {new['format']}"))
    return problems


def _compare_values(old: Schema, new: Schema, path: str) -> list[Problem]:
    old_values, new_values = _allowed_values(old), _allowed_values(new)
    if new_values is None:
        return []
    if old_values is None:
        return [(path, f"now restricted to {sorted(new_values)}")]
    removed = old_values - new_values
    return [(path, f"values removed: {', '.join(sorted(removed))}")] if removed else []


def _compare_limits(old: Schema, new: Schema, path: str) -> list[Problem]:
    problems = []
    for key in _LIMITS_LOWER_IS_TIGHTER:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append((path, f"{key} tightened from {old.get(key)} to {new[key]}"))
    for key in _LIMITS_HIGHER_IS_TIGHTER:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append((path, f"{key} tightened from {old.get(key)} to {new[key]}"))
    if "pattern" in new and old.get("pattern") != new["pattern"]:
        problems.append((path, f"pattern changed from {old.get('pattern')} to {new['pattern']}"))
    return problems


def _types(schema: Schema) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _allowed_values(schema: Schema) -> set[str] | None:
    if "const" in schema:
        return {json.dumps(schema["const"])}
    if "enum" in schema:
        return {json.dumps(value) for value in schema["enum"]}
    return None


def _variants(schema: Schema) -> list[Schema]:
    return list(schema.get("anyOf") or schema.get("oneOf") or [])


def _resolve(schema: Schema, root: Schema) -> Schema:
    """The schema with its `$ref` replaced by the target (sibling keys kept)."""
    while "$ref" in schema:
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**_follow(schema["$ref"], root), **siblings}
    return schema


def _follow(ref: str, root: Schema) -> Schema:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return dict(node)


def _show(types: set[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types))


def _join(path: str, relative: str) -> str:
    """Extend a field path by a field name or by a path relative to it."""
    if not path or not relative:
        return path or relative
    return f"{path}{'' if relative.startswith('[') else '.'}{relative}"
