"""The fields every Frontdesk event carries, and the helpers to create them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, field_validator
from uuid6 import uuid7

from libs.events.values import to_utc

ActorKind = Literal["operator", "client", "staff", "system", "telephony"]
Service = Literal["intake", "calls", "routing", "notify", "billing", "calendar", "inbox"]


def new_id() -> UUID:
    """A new time-ordered identifier (UUIDv7)."""
    return UUID(str(uuid7()))


class Actor(BaseModel):
    """Who caused an event: an operator, the client, bureau staff, the system or telephony."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActorKind
    id: str | None = Field(default=None, max_length=200)


SYSTEM = Actor(kind="system")


class Event(BaseModel):
    """Base of every event: the common envelope. Subclasses add a `type` literal and fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[Service]

    event_id: UUID = Field(default_factory=new_id)
    type: str
    schema_version: Annotated[int, Strict()] = Field(default=1, ge=1)
    client_id: UUID
    occurred_at: AwareDatetime
    correlation_id: UUID = Field(default_factory=new_id)
    causation_id: UUID | None = None
    actor: Actor = SYSTEM

    _current_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: object) -> None:
        """Keep the version the class writes at hand: every decode checks it."""
        super().__pydantic_init_subclass__(**kwargs)
        cls._current_version = int(cls.model_fields["schema_version"].default)

    @classmethod
    def current_schema_version(cls) -> int:
        """The version this code writes; a subclass bumps it by redeclaring `schema_version`
        with the same type and a higher default (see InvoiceIssued). It is strict: a version
        is a JSON integer, never 1.0 or "1" (upcasting reads it as such before validation)."""
        return cls._current_version

    @field_validator("schema_version")
    @classmethod
    def _is_current(cls, value: int) -> int:
        expected = cls._current_version
        if value != expected:
            raise ValueError(
                f"{cls.__name__} is at schema_version {expected}; upcast older data first"
            )
        return value

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    def caused(self) -> dict[str, UUID]:
        """Envelope fields for an event caused by this one (same correlation)."""
        return {"correlation_id": self.correlation_id, "causation_id": self.event_id}
