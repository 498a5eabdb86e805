"""`decode` takes a one-pass path inside pydantic-core; it must agree with the long way.

The long way (`decode_checked`: json, upcasting, then validation of Python data) is the
definition. For every event of the catalogue, and for payloads mangled from them (fields
replaced by other JSON values, removed or added, text with NUL or escapes that are no
characters, numbers pydantic-core's parser reads but json refuses), the fast path must accept
exactly what the long way accepts and give the same event.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events import Event, encode
from libs.events.catalogue import UndecodableEvent, decode, decode_checked
from tests.events.samples import all_samples

SAMPLES = [json.loads(encode(e)) for e in all_samples()]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["2026-12-09T10:00:00Z", "2026-12-09T10:00:00+02:00", "+31612345678",
                       "01a23425-0fc2-74dd-aaaa-d6ce909e22cf", "10:00", "nl", "email", ""]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def outcome(decoder: Any, data: bytes) -> tuple[str, object]:
    """What a decoder makes of the bytes: the event, or that it refused them."""
    try:
        return ("event", decoder(data))
    except UndecodableEvent:
        return ("refused", None)


def assert_same(data: bytes) -> None:
    fast, slow = outcome(decode, data), outcome(decode_checked, data)
    assert fast[0] == slow[0], data
    if isinstance(fast[1], Event) and isinstance(slow[1], Event):
        # A missing id is made anew by each decode (its default factory): all else is equal.
        given = data.decode()
        fresh = {name for name, field in type(fast[1]).model_fields.items()
                 if field.default_factory is not None and f'"{name}"' not in given}  # fmt: skip
        assert fast[1].model_dump(exclude=fresh) == slow[1].model_dump(exclude=fresh), data
        assert type(fast[1]) is type(slow[1])


@pytest.mark.parametrize("raw", SAMPLES, ids=[s["type"] for s in SAMPLES])
def test_every_event_of_the_catalogue_decodes_the_same_both_ways(raw: dict[str, Any]) -> None:
    data = json.dumps(raw).encode()
    assert outcome(decode, data)[0] == "event"
    assert_same(data)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_a_mangled_event_is_accepted_or_refused_the_same_both_ways(data: st.DataObject) -> None:
    raw = dict(data.draw(st.sampled_from(SAMPLES)))
    fields = sorted(raw)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        action = data.draw(st.sampled_from(["replace", "remove", "add", "nest"]))
        name = data.draw(st.sampled_from(fields))
        if action == "replace":
            raw[name] = data.draw(json_values)
        elif action == "remove":
            raw.pop(name, None)
        elif action == "add":
            raw[data.draw(st.text(max_size=10))] = data.draw(json_values)
        elif isinstance(raw.get(name), dict) and raw[name]:
            inner = dict(raw[name])
            inner[data.draw(st.sampled_from(sorted(inner)))] = data.draw(json_values)
            raw[name] = inner
    assert_same(json.dumps(raw).encode())


ODD_TEXT = [
    '"x\\u0000y"',  # NUL: no database stores it
    '"\\ud800"',  # a lone surrogate: no character at all
    '"\\udc00x"',
    '"caf\\u00e9"',
]
ODD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "1.0", "1", "true", '"1"']


@pytest.mark.parametrize("raw", SAMPLES, ids=[s["type"] for s in SAMPLES])
def test_text_and_numbers_json_and_pydantic_core_read_apart_are_judged_the_same(
    raw: dict[str, Any],
) -> None:
    base = json.dumps(raw)
    for name, value in raw.items():
        placeholder = json.dumps({name: value})[1:-1]
        if placeholder not in base:
            continue
        odd = ODD_TEXT if isinstance(value, str) else ODD_NUMBERS
        for literal in odd:
            mangled = base.replace(placeholder, f"{json.dumps(name)}: {literal}", 1)
            assert_same(mangled.encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"type": "NoSuchEvent"}',
        b"\xef\xbb\xbf{}",  # a byte-order mark
        b'{"type": "CallReceived"} trailing',
        b"\xff\xfe",
        b'{"type": "CallReceived", "schema_version": 2}',
    ],
)
def test_what_is_no_event_is_refused_both_ways(data: bytes) -> None:
    assert outcome(decode, data) == outcome(decode_checked, data) == ("refused", None)


def test_duplicate_keys_keep_the_last_both_ways() -> None:
    raw = next(s for s in SAMPLES if s["type"] == "CallReceived")
    text = json.dumps(raw)
    doubled = text.replace('"office_open": ', '"office_open": false, "office_open": ', 1)
    assert_same(doubled.encode())


def test_an_older_schema_version_is_upcast_on_the_long_way() -> None:
    issued = next(s for s in SAMPLES if s["type"] == "InvoiceIssued")
    assert issued["schema_version"] > 1  # invoice_v1_to_v2 exists: an old one must still read
    old = {k: v for k, v in issued.items() if k not in {"lines"}} | {"schema_version": 1}
    assert_same(json.dumps(old).encode())
