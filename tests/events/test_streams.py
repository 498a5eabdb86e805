"""Folding one entity's stream: opening event, version count, fields carried from the opener."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

import pytest

from libs.events import CallEnded, CallReceived, Event
from libs.events.streams import StreamFold, opened_by

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8058")
CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")


@dataclass(frozen=True)
class Line:
    call_id: UUID
    dialled_number: str
    opened_at: datetime
    ended: bool = False
    version: int = 1


def _ended(state: Line, event: Event) -> Line:
    if not isinstance(event, CallEnded):
        raise ValueError(f"{event.type} does not belong here")
    return replace(state, ended=True)


LINE = StreamFold(CallReceived, lambda e: opened_by(Line, e, opened_at=e.received_at), _ended)


def _received() -> CallReceived:
    return CallReceived(
        client_id=CLIENT, call_id=CALL, occurred_at=AT, dialled_number="+31851234567",
        caller_number=None, received_at=AT, book_version=None, office_open=True,
    )  # fmt: skip


def test_the_opening_event_carries_its_fields_of_the_same_name_and_the_given_ones() -> None:
    line = LINE.fold([_received()])
    assert line == Line(call_id=CALL, dialled_number="+31851234567", opened_at=AT)


def test_each_later_event_counts_one_more_version() -> None:
    ended = CallEnded(client_id=CLIENT, call_id=CALL, occurred_at=AT, ended_at=AT)
    line = LINE.fold([_received(), ended])
    assert (line is not None, line and line.ended, line and line.version) == (True, True, 2)


def test_a_stream_must_open_with_its_opening_event() -> None:
    ended = CallEnded(client_id=CLIENT, call_id=CALL, occurred_at=AT, ended_at=AT)
    with pytest.raises(ValueError, match="starts with CallReceived, not CallEnded"):
        LINE.fold([ended])


def test_no_events_and_no_state_is_no_entity() -> None:
    assert LINE.fold([]) is None
