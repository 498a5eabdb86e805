"""The catalogue: every event round-trips; anything else is refused with UndecodableEvent."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from libs.events import (
    ALL_SERVICES,
    EVENT_TYPES,
    UPCASTERS,
    Actor,
    CallEnded,
    CallReceived,
    ClientOffboarded,
    DocumentLine,
    Event,
    InvoiceIssued,
    LogPosition,
    NoteRecorded,
    PunchCardLow,
    UndecodableEvent,
    billing,
    calendar,
    calls,
    dead_letter_topic,
    decode,
    encode,
    events_of,
    inbox,
    intake,
    notify,
    routing,
    topic_for,
)
from libs.events.catalogue import upcast
from tests.events.samples import AT, CALL, CLIENT, all_samples, envelope

SAMPLES = all_samples()
MODULE_EVENTS = {
    "intake": intake.INTAKE_EVENTS,
    "calls": calls.CALL_EVENTS,
    "routing": routing.ROUTING_EVENTS,
    "notify": (*notify.NOTIFY_EVENTS, *notify.FORWARDING_EVENTS),
    "billing": billing.BILLING_EVENTS,
    "calendar": calendar.CALENDAR_EVENTS,
    "inbox": inbox.INBOX_EVENTS,
}
QUICK = settings(max_examples=60, deadline=None, database=None)


def _id(event: Event) -> str:
    return event.type


def _ended(**overrides: Any) -> dict[str, Any]:
    """A valid CallEnded as a JSON object, with some fields replaced."""
    data = json.loads(encode(CallEnded(**envelope(call_id=CALL), ended_at=AT)))
    return {**data, **overrides}


def test_samples_cover_every_event_type() -> None:
    assert {type(event) for event in SAMPLES} == set(EVENT_TYPES.values())


def test_catalogue_holds_exactly_the_events_of_the_seven_modules() -> None:
    declared = [cls for events in MODULE_EVENTS.values() for cls in events]
    assert len(EVENT_TYPES) == len(declared) == 74
    assert set(EVENT_TYPES.values()) == set(declared)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_each_event_names_the_service_that_emits_it(service: str) -> None:
    assert events_of(service) == MODULE_EVENTS[service]  # type: ignore[arg-type]
    assert all(cls.service == service for cls in MODULE_EVENTS[service])


def test_type_keys_match_the_type_literal() -> None:
    for name, cls in EVENT_TYPES.items():
        assert cls.model_fields["type"].default == name == cls.__name__


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_round_trips_through_bytes_and_text(event: Event) -> None:
    data = encode(event)
    assert decode(data) == event
    assert type(decode(data.decode("utf-8"))) is type(event)
    assert encode(decode(data)) == data


@pytest.mark.parametrize("event", SAMPLES, ids=_id)
def test_wire_form_is_a_utf8_json_object_with_the_envelope(event: Event) -> None:
    data = json.loads(encode(event).decode("utf-8"))
    envelope_keys = {"event_id", "type", "schema_version", "client_id", "occurred_at"}
    assert envelope_keys | {"correlation_id", "causation_id", "actor"} <= data.keys()
    assert data["type"] == type(event).__name__
    assert data["occurred_at"].endswith("Z")


def test_non_ascii_text_survives_as_utf8() -> None:
    note = next(e for e in SAMPLES if isinstance(e, NoteRecorded))
    assert "Müller".encode() in encode(note)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "not UTF-8 JSON"),
        (b"\xff\xfe{}", "not UTF-8 JSON"),
        (b"{not json", "not UTF-8 JSON"),
        (b'{"type": "CallEnded", "quantity": NaN}', "not UTF-8 JSON"),
        (b"[1, 2]", "JSON object, got list"),
        (b'"CallEnded"', "JSON object, got str"),
        (b"{}", "unknown event type None"),
        (b'{"type": "CallExploded"}', "unknown event type 'CallExploded'"),
        (b'{"type": 7}', "unknown event type 7"),
    ],
)
def test_decode_refuses_what_is_not_an_event(data: bytes, expected: str) -> None:
    with pytest.raises(UndecodableEvent, match=expected):
        decode(data)


def test_decode_names_every_missing_field() -> None:
    with pytest.raises(UndecodableEvent) as caught:
        decode(b'{"type": "CallEnded", "client_id": "' + str(CLIENT).encode() + b'"}')
    message = str(caught.value)
    assert message.startswith("invalid CallEnded event: ")
    for field in ("occurred_at: Field required", "call_id: Field required", "ended_at"):
        assert field in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"call_id": "nope"}, "call_id: Input should be a valid UUID"),
        ({"ended_at": "2026-01-05T10:00:00"}, "ended_at: Input should have timezone info"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"actor": {"kind": "robot"}}, "actor.kind: Input should be"),
        ({"schema_version": 2}, "unsupported schema_version 2"),
        ({"schema_version": "1"}, "unsupported schema_version '1'"),
        ({"schema_version": True}, "unsupported schema_version True"),
    ],
)
def test_decode_explains_invalid_fields(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(UndecodableEvent, match=expected):
        decode(json.dumps(_ended(**overrides)))


def test_occurred_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        CallEnded(client_id=CLIENT, occurred_at=datetime(2026, 1, 5, 9), call_id=CALL, ended_at=AT)


def test_instants_are_normalised_to_utc() -> None:
    amsterdam = timezone(timedelta(hours=1))
    local = datetime(2026, 1, 5, 10, 30, tzinfo=amsterdam)
    event = CallEnded(client_id=CLIENT, occurred_at=local, call_id=CALL, ended_at=local)
    assert event.occurred_at == event.ended_at == AT
    assert event.occurred_at.tzinfo is UTC
    assert event.ended_at.tzinfo is UTC
    assert json.loads(encode(event))["ended_at"] == "2026-01-05T09:30:00Z"


def test_events_are_frozen_and_hashable() -> None:
    event = SAMPLES[0]
    with pytest.raises(ValidationError, match="frozen"):
        event.client_id = CALL  # type: ignore[misc]
    assert hash(event) == hash(decode(encode(event)))


def test_nested_values_are_frozen_too() -> None:
    invoice = next(e for e in SAMPLES if isinstance(e, InvoiceIssued))
    with pytest.raises(ValidationError, match="frozen"):
        invoice.lines[0].amount_cents = 0  # type: ignore[misc]
    assert isinstance(invoice.lines, tuple)


def test_schema_version_is_the_current_one() -> None:
    with pytest.raises(ValidationError, match="schema_version 1"):
        ClientOffboarded(**envelope(), schema_version=2)


def test_follow_up_events_share_the_correlation() -> None:
    first = SAMPLES[0]
    second = ClientOffboarded(**envelope(), **first.caused())
    assert second.correlation_id == first.correlation_id
    assert second.causation_id == first.event_id


def test_topics() -> None:
    assert ALL_SERVICES == (
        "intake", "calls", "routing", "notify", "billing", "calendar", "inbox"
    )  # fmt: skip
    assert topic_for("calls") == "frontdesk.calls.v1"
    assert topic_for("billing", prefix="test-1") == "test-1.billing.v1"
    assert dead_letter_topic("notify") == "frontdesk.notify.dlq.v1"
    assert dead_letter_topic("intake", "x") == "x.intake.dlq.v1"


# --- upcasting -------------------------------------------------------------------------


class Greeting(Event):
    """A test-local event at version 3: v1 had `text`, v2 renamed it, v3 added `language`."""

    service: ClassVar[Literal["intake"]] = "intake"
    type: Literal["Greeting"] = "Greeting"
    schema_version: int = 3
    greeting: str
    language: str


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    raw["greeting"] = raw.pop("text")
    return raw


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "language": "nl"}


GREETING_UPCASTERS = {("Greeting", 1): _v1_to_v2, ("Greeting", 2): _v2_to_v3}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_upcasters_are_applied_until_the_current_version(version: int) -> None:
    old = {"type": "Greeting", "schema_version": version, "client_id": str(CLIENT)}
    old |= {"occurred_at": "2026-01-05T09:30:00Z", "text" if version == 1 else "greeting": "Hoi"}
    if version == 3:
        old["language"] = "nl"
    raw = upcast(old, GREETING_UPCASTERS, {"Greeting": Greeting})
    greeting = Greeting.model_validate(raw)
    assert (greeting.schema_version, greeting.greeting, greeting.language) == (3, "Hoi", "nl")


def test_a_missing_version_means_version_one() -> None:
    old = {"type": "Greeting", "text": "Hoi"}
    raw = upcast(old, GREETING_UPCASTERS, {"Greeting": Greeting})
    assert raw == {"type": "Greeting", "schema_version": 3, "greeting": "Hoi", "language": "nl"}


def test_a_gap_in_the_upcaster_chain_is_undecodable() -> None:
    old = {"type": "Greeting", "schema_version": 1, "text": "Hoi"}
    with pytest.raises(UndecodableEvent, match="no upcaster from schema_version 2"):
        upcast(old, {("Greeting", 1): _v1_to_v2}, {"Greeting": Greeting})


def test_a_failing_upcaster_is_undecodable() -> None:
    old = {"type": "Greeting", "schema_version": 1}
    with pytest.raises(UndecodableEvent, match="upcaster from v1 failed: KeyError"):
        upcast(old, GREETING_UPCASTERS, {"Greeting": Greeting})


def test_decode_applies_registered_upcasters(monkeypatch: pytest.MonkeyPatch) -> None:
    def why_became_reason(raw: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in raw.items() if k != "why"}, "reason": raw["why"]}

    monkeypatch.setitem(UPCASTERS, ("ClientOffboarded", 0), why_became_reason)
    old = json.loads(encode(ClientOffboarded(**envelope(), reason="x")))
    old |= {"schema_version": 0, "why": "Moved abroad"}
    del old["reason"]
    event = decode(json.dumps(old))
    assert isinstance(event, ClientOffboarded)
    assert (event.reason, event.schema_version) == ("Moved abroad", 1)


def test_registered_upcasters_start_below_the_current_version() -> None:
    for name, version in UPCASTERS:
        assert version < EVENT_TYPES[name].current_schema_version()


# --- properties ------------------------------------------------------------------------

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
phones = st.from_regex(r"\A\+[1-9][0-9]{6,14}\Z")
identifiers = st.from_regex(r"\A[A-Za-z0-9._@:-]{1,100}\Z")
book_versions = st.none() | st.integers(1, 10**6)
cents = st.integers(0, 10**9)
periods = st.builds("{:04d}-{:02d}".format, st.integers(2000, 2100), st.integers(1, 12))
actors = st.builds(
    Actor,
    kind=st.sampled_from(["operator", "client", "staff", "system", "telephony"]),
    id=st.none() | st.text(max_size=200),
)
envelopes = st.fixed_dictionaries(
    {"event_id": st.uuids(), "client_id": st.uuids(), "occurred_at": instants},
    optional={"causation_id": st.uuids(), "correlation_id": st.uuids(), "actor": actors},
)


def _event(cls: type[Event], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Event]:
    """Events of one class: a random envelope merged with the given field strategies."""
    return st.builds(lambda env, rest: cls(**env, **rest), envelopes, st.fixed_dictionaries(fields))


STORABLE = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")


def storable_text(**sizes: int) -> st.SearchStrategy[str]:
    """Text PostgreSQL can store: no NUL, no lone surrogates (what the value types accept)."""
    return st.text(alphabet=STORABLE, **sizes)


calls_received = _event(
    CallReceived,
    call_id=st.uuids(),
    dialled_number=phones,
    caller_number=st.none() | phones,
    received_at=instants,
    book_version=book_versions,
    office_open=st.booleans(),
)
notes = _event(
    NoteRecorded,
    call_id=st.uuids(),
    operator_id=identifiers,
    book_version=book_versions,
    caller_name=storable_text(min_size=1, max_size=200),
    caller_company=storable_text(max_size=500),
    caller_number=st.none() | phones,
    message=storable_text(max_size=5000),
    follow_up=st.sampled_from(["none", "call_back", "caller_will_email", "other"]),
    actions_taken=storable_text(max_size=300),
    information_given=storable_text(max_size=300),
)
punch_cards_low = _event(
    PunchCardLow, balance_cents=st.integers(-(10**9), 10**9), threshold_cents=cents
)


@st.composite
def lines(draw: st.DrawFn) -> DocumentLine:
    """Invoice lines whose amount is quantity times unit price."""
    quantity, price = draw(st.integers(0, 10_000)), draw(st.integers(0, 100_000))
    return DocumentLine(
        kind=draw(st.sampled_from(["calls", "extra_calls", "setup_fee"])),
        description=draw(storable_text(min_size=1, max_size=500)),
        period=draw(periods),
        quantity=quantity,
        unit_price_cents=price,
        amount_cents=quantity * price,
        call_ids=tuple(draw(st.lists(st.uuids(), max_size=5))),
        event_ids=tuple(draw(st.lists(st.uuids(), max_size=5))),
    )


@st.composite
def invoices(draw: st.DrawFn) -> Event:
    """Invoices whose totals add up."""
    drawn = tuple(draw(st.lists(lines(), min_size=1, max_size=4)))
    subtotal, vat = sum(line.amount_cents for line in drawn), draw(cents)
    positions = st.builds(
        LogPosition, topic=st.just("frontdesk.calls.v1"), partition=cents, offset=cents
    )
    return InvoiceIssued(
        **draw(envelopes),
        invoice_id=draw(st.uuids()),
        invoice_number=draw(st.from_regex(r"\A[0-9]{4}-[0-9]{6}\Z")),
        period=draw(periods),
        lines=drawn,
        subtotal_cents=subtotal,
        vat_cents=vat,
        total_cents=subtotal + vat,
        purpose="monthly",
        computed_from=tuple(draw(st.lists(positions, max_size=3))),
        billing_stream_position=draw(st.none() | cents),
    )


@QUICK
@given(calls_received | notes | punch_cards_low | invoices())
def test_property_round_trip(event: Event) -> None:
    assert decode(encode(event)) == event


@QUICK
@given(st.binary(max_size=200))
def test_property_garbage_bytes_never_crash_decode(data: bytes) -> None:
    with contextlib.suppress(UndecodableEvent):
        decode(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@QUICK
@given(
    st.sampled_from(sorted(EVENT_TYPES)),
    st.dictionaries(st.text(max_size=15), json_values, max_size=6),
)
def test_property_a_known_type_with_random_fields_decodes_or_is_refused(
    name: str, fields: dict[str, Any]
) -> None:
    try:
        event = decode(json.dumps({**fields, "type": name}))
    except UndecodableEvent:
        return
    assert isinstance(event, EVENT_TYPES[name])
