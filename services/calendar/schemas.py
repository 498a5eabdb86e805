"""The calendar API's request and response models, kept apart from events and table rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator

from libs.events.calendar import CallbackBlock, CallbackFailure, Permission, Provider
from libs.events.values import Email, Language, PhoneNumber, ShortText, Text

OneLine = Annotated[str, Field(max_length=200, pattern=r"^[^\r\n]*$")]


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class LinkPut(Request):
    """Link the client's calendar: where it is, the credential, what the client allows."""

    provider: Provider
    calendar: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^\S+$")] = Field(
        description="CalDAV: the calendar's https URL; Google: the calendar id (e.g. primary)"
    )
    account: Annotated[str, Field(max_length=200, pattern=r"^[^\r\n]*$")] = Field(
        default="", description="CalDAV: the user name; Google: the account, for reference"
    )
    secret: SecretStr = Field(
        description="CalDAV: the (app) password; Google: the OAuth refresh token the client "
        "granted. Kept sealed; never shown again"
    )
    permission: Permission
    show_titles: bool = False
    callback_block: CallbackBlock | None = None

    @model_validator(mode="after")
    def _secret_sized(self) -> LinkPut:
        if not 1 <= len(self.secret.get_secret_value()) <= 4096:
            raise ValueError("the secret must be 1 to 4096 characters")
        return self


class PermissionPut(Request):
    """What the bureau may do with the calendar, what operators see, the reserved block."""

    permission: Permission
    show_titles: bool
    callback_block: CallbackBlock | None = None


class Span(Request):
    """A stretch of time with both ends and a time zone."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end <= self.start:
            raise ValueError("end must lie after start")
        return self


class AttendeeIn(Request):
    """The caller, invited to the appointment."""

    name: ShortText = ""
    email: Email | None = None
    phone: PhoneNumber | None = None


class AppointmentCreate(Span):
    """An appointment booked from a call into the client's calendar."""

    title: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n]*$")]
    location: OneLine = ""
    description: Annotated[Text, Field(max_length=2000)] = ""
    attendee: AttendeeIn | None = None


class ProposalCreate(Request):
    """Times proposed to the caller, for a client whose calendar is read-only."""

    title: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n]*$")]
    times: list[Span] = Field(min_length=1, max_length=5)
    attendee: AttendeeIn | None = None


class CancelCreate(Request):
    """Why the appointment is cancelled."""

    reason: ShortText = ""


class AssignCreate(Request):
    """Who takes the callback."""

    operator_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@:-]{1,100}$")]


class DoneCreate(Request):
    """The caller was called back."""

    comment: ShortText = ""


class FailedCreate(Request):
    """Calling back did not work, and why."""

    reason: CallbackFailure
    comment: ShortText = ""


class BusyRead(BaseModel):
    """A busy stretch as last read (a title only where the client allows it)."""

    start: datetime
    end: datetime
    title: str = ""


class AvailabilityRead(BaseModel):
    """Free or busy at the moment asked, from the last read of the calendar."""

    state: Literal["free", "busy", "unknown"]
    until: datetime | None = None
    next_free_slot: BusyRead | None = None
    read_at: datetime | None = None
    stale: bool = True


class LinkRead(BaseModel):
    """A linked calendar as answers show it: never its credential."""

    client_id: UUID
    linked: bool
    provider: Provider
    calendar: str
    account: str
    permission: Permission
    show_titles: bool
    callback_block: dict[str, Any] | None
    linked_at: datetime
    last_read_at: datetime | None
    last_read_ok: bool | None
    last_error: str
    unreachable_since: datetime | None
    busy: list[BusyRead] = []
    availability: AvailabilityRead | None = None


class AppointmentRead(BaseModel):
    """An appointment booked, moved, cancelled or proposed from a call."""

    appointment_id: UUID
    client_id: UUID
    call_id: UUID
    status: Literal["booked", "cancelled", "proposed"]
    uid: str
    start: datetime | None
    end: datetime | None
    title: str
    location: str
    attendee: dict[str, Any]
    times: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> AppointmentRead:
        """From the appointments table's row."""
        return cls(
            **{k: row[k] for k in ("appointment_id", "client_id", "call_id", "status", "uid",
                                   "title", "location", "created_at", "updated_at")},
            start=row["starts_at"], end=row["ends_at"],
            attendee=_json(row["attendee"]), times=_json(row["times"]),
        )  # fmt: skip


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class CallbackRead(BaseModel):
    """One callback on the list."""

    callback_id: UUID
    client_id: UUID
    call_id: UUID
    source: Literal["note", "voicemail"]
    language: Language
    caller_number: str
    caller_name: str
    detail: str
    due_at: datetime
    status: Literal["open", "done", "failed"]
    assigned_to: str | None
    reason: str
    comment: str
    escalated: bool
    overdue: bool = False
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
