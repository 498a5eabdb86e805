"""The one catalogue of events: the discriminated union, wire encoding, upcasting and topics."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter, ValidationError

from libs.events.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    InvoiceSent,
    PaymentRecorded,
    PaymentReminderSent,
    PunchCardLow,
    PunchCardToppedUp,
    invoice_v1_to_v2,
)
from libs.events.calendar import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMoved,
    AppointmentProposed,
    CalendarLinked,
    CalendarObserved,
    CalendarPermissionChanged,
    CalendarUnlinked,
    CalendarUnreachable,
    CallbackAssigned,
    CallbackDone,
    CallbackEscalated,
    CallbackFailed,
    CallbackScheduled,
)
from libs.events.calls import (
    CallAnswered,
    CallBillabilityRestored,
    CallEnded,
    CallMarkedNonBillable,
    CallReceived,
    CallTransferred,
    EscalationRequested,
    NoteRecorded,
    VoicemailRecorded,
)
from libs.events.envelope import Event, Service
from libs.events.inbox import (
    AnnouncedMailFound,
    AnswerUndeliverable,
    ConversationAssigned,
    ConversationEscalated,
    ConversationForwarded,
    ConversationHandled,
    ConversationMarkedSpam,
    ConversationOpened,
    MailboxConfigured,
    MailReceived,
    ReplySent,
)
from libs.events.intake import (
    ApiKeyIssued,
    ApiKeyRevoked,
    BillingDetailsChanged,
    BookChangeRequested,
    BookHandedOver,
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    EnquiryRecorded,
    IntakeFormReceived,
    NotificationPreferencesChanged,
    NumberAddedToPool,
    NumberAssigned,
    NumberReleased,
    OffboardingCancelled,
    OffboardingScheduled,
    OfficeHoursChanged,
    PlanChanged,
    QuoteIssued,
    SecretaryBookRevised,
    TelephonyConfigured,
    TermsAccepted,
)
from libs.events.notify import (
    ForwardingCodesRemoved,
    ForwardingCodesSet,
    NotificationFailed,
    NotificationSent,
)
from libs.events.routing import (
    CallRouted,
    EscalationAcknowledged,
    EscalationDispatched,
    EscalationExhausted,
    OperatorDetailsChanged,
    OperatorPresenceChanged,
    OperatorRegistered,
)

AnyEvent = Annotated[
    ClientRegistered
    | ClientActivated
    | NumberAssigned
    | NumberReleased
    | SecretaryBookRevised
    | PlanChanged
    | NotificationPreferencesChanged
    | OfficeHoursChanged
    | ClientOffboarded
    | ApiKeyIssued
    | ApiKeyRevoked
    | NumberAddedToPool
    | EnquiryRecorded
    | QuoteIssued
    | IntakeFormReceived
    | TermsAccepted
    | TelephonyConfigured
    | OffboardingScheduled
    | OffboardingCancelled
    | CallReceived
    | CallAnswered
    | NoteRecorded
    | EscalationRequested
    | CallTransferred
    | VoicemailRecorded
    | CallEnded
    | CallMarkedNonBillable
    | CallBillabilityRestored
    | CallRouted
    | EscalationDispatched
    | EscalationAcknowledged
    | EscalationExhausted
    | OperatorRegistered
    | OperatorDetailsChanged
    | OperatorPresenceChanged
    | NotificationSent
    | NotificationFailed
    | ForwardingCodesSet
    | ForwardingCodesRemoved
    | BookHandedOver
    | BookChangeRequested
    | BillingDetailsChanged
    | InvoiceIssued
    | CreditNoteIssued
    | PunchCardToppedUp
    | PunchCardLow
    | PaymentRecorded
    | InvoiceSent
    | PaymentReminderSent
    | CalendarLinked
    | CalendarPermissionChanged
    | CalendarUnlinked
    | CalendarObserved
    | CalendarUnreachable
    | AppointmentBooked
    | AppointmentMoved
    | AppointmentCancelled
    | AppointmentProposed
    | CallbackScheduled
    | CallbackAssigned
    | CallbackDone
    | CallbackFailed
    | CallbackEscalated
    | MailboxConfigured
    | ConversationOpened
    | MailReceived
    | ConversationAssigned
    | ReplySent
    | ConversationForwarded
    | ConversationHandled
    | ConversationMarkedSpam
    | ConversationEscalated
    | AnswerUndeliverable
    | AnnouncedMailFound,
    Field(discriminator="type"),
]
"""Any Frontdesk event, told apart by its `type`."""

ALL_SERVICES: tuple[Service, ...] = (
    "intake",
    "calls",
    "routing",
    "notify",
    "billing",
    "calendar",
    "inbox",
)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON object of one schema version into that of the next version."""

UPCASTERS: dict[tuple[str, int], Upcaster] = {("InvoiceIssued", 1): invoice_v1_to_v2}
"""Registered upcasters by (event type, schema version they read)."""


class UndecodableEvent(ValueError):
    """Raised when bytes on the wire are not a valid Frontdesk event."""


def type_name(event_type: type[Event]) -> str:
    """The `type` discriminator of an event class."""
    return str(event_type.model_fields["type"].default)


EVENT_TYPES: dict[str, type[Event]] = {
    type_name(cls): cls for cls in get_args(get_args(AnyEvent)[0])
}
"""Every event class by its `type`."""

_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def events_of(service: Service) -> tuple[type[Event], ...]:
    """The event classes a service emits, in catalogue order."""
    return tuple(cls for cls in EVENT_TYPES.values() if cls.service == service)


def topic_for(service: Service, prefix: str = "frontdesk") -> str:
    """The Kafka topic a service publishes its events on."""
    return f"{prefix}.{service}.v1"


def dead_letter_topic(service: Service, prefix: str = "frontdesk") -> str:
    """The topic where a service's consumers park messages they cannot handle."""
    return f"{prefix}.{service}.dlq.v1"


def encode(event: Event) -> bytes:
    """The event as UTF-8 JSON, as it travels on Kafka and is stored in the outbox."""
    return event.model_dump_json().encode("utf-8")


def decode(data: bytes | str) -> Event:
    """Parse, upcast and validate one event; raise UndecodableEvent if it is not one.

    An event at its current schema version is parsed and validated in one pass inside
    pydantic-core. Anything that pass refuses (an older version to upcast first, or no event
    at all) goes the long way, which upcasts, validates again and says what is wrong. The long
    way alone would give the same events: tests/events/test_decode_paths.py holds the two to
    each other on every event of the catalogue and on payloads mangled from them.
    """
    try:
        event: Event = _ADAPTER.validate_json(data)
    except ValidationError:
        return decode_checked(data)
    return event


def decode_checked(data: bytes | str) -> Event:
    """`decode` the long way: parsed with json, upcast, then validated as Python data."""
    raw = upcast(_parse(data))
    try:
        event: Event = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise UndecodableEvent(_describe(raw.get("type"), exc)) from exc
    return event


def upcast(
    raw: dict[str, Any],
    upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
    event_types: Mapping[str, type[Event]] = EVENT_TYPES,
) -> dict[str, Any]:
    """Apply upcasters until the payload is at its type's current schema version."""
    name = raw.get("type")
    if not isinstance(name, str) or name not in event_types:
        raise UndecodableEvent(f"unknown event type {name!r}")
    current = event_types[name].current_schema_version()
    version = raw.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version > current:
        raise UndecodableEvent(f"{name}: unsupported schema_version {version!r} (<= {current})")
    for old in range(version, current):
        raw = _upcast_once(name, old, raw, upcasters)
    return raw


def _upcast_once(
    name: str, version: int, raw: dict[str, Any], upcasters: Mapping[tuple[str, int], Upcaster]
) -> dict[str, Any]:
    step = upcasters.get((name, version))
    if step is None:
        raise UndecodableEvent(f"{name}: no upcaster from schema_version {version}")
    try:
        return {**step(dict(raw)), "schema_version": version + 1}
    except Exception as exc:  # an upcaster meeting a malformed old payload
        raise UndecodableEvent(f"{name}: upcaster from v{version} failed: {exc!r}") from exc


def _parse(data: bytes | str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        raw = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise UndecodableEvent(f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UndecodableEvent(f"an event is a JSON object, got {type(raw).__name__}")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _describe(name: object, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        # The first loc item is the union tag (the type name); the rest is the field path.
        where = ".".join(str(part) for part in error["loc"][1:]) or "(event)"
        problems.append(f"{where}: {error['msg']}")
    return f"invalid {name} event: " + "; ".join(problems)
