"""Instants the database cannot give back are refused at the edge, in events and in requests.

PostgreSQL's driver reads -infinity/infinity as datetime.min/max (naive) and writes those two
as infinities, so an event or request at exactly the calendar's edge would come back as a
different, naive value. Every model that takes an instant refuses them with a readable error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from libs.events import new_id
from libs.events.calls import CallReceived
from services.billing.schemas import PaymentCreate
from services.calls.schemas import CallCreate

EDGES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:59:00+01:00",  # the same instant as the first edge, and one beyond it
]


@pytest.mark.parametrize("instant", EDGES)
def test_requests_refuse_the_calendars_edges(instant: str) -> None:
    with pytest.raises(ValidationError, match="outside the supported range"):
        CallCreate.model_validate({"dialled_number": "+31851234567", "received_at": instant})
    with pytest.raises(ValidationError, match="outside the supported range"):
        PaymentCreate.model_validate({"amount_cents": 100, "paid_at": instant})


def test_events_refuse_the_calendars_edges() -> None:
    edge = datetime.min.replace(tzinfo=UTC)
    with pytest.raises(ValidationError, match="outside the supported range"):
        call_received(occurred_at=edge, received_at=edge + timedelta(days=1))
    with pytest.raises(ValidationError, match="outside the supported range"):
        call_received(occurred_at=edge + timedelta(days=1), received_at=edge)


def test_an_instant_just_inside_the_edge_is_kept_in_utc() -> None:
    inside = datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC)
    amsterdam = timezone(timedelta(hours=1))
    created = CallCreate.model_validate(
        {"dialled_number": "+31851234567", "received_at": inside.astimezone(amsterdam)}
    )
    assert created.received_at == inside
    assert created.received_at.tzinfo is UTC


def call_received(*, occurred_at: datetime, received_at: datetime) -> CallReceived:
    """A CallReceived at the given instants."""
    return CallReceived(
        client_id=new_id(),
        occurred_at=occurred_at,
        call_id=new_id(),
        dialled_number="+31851234567",
        caller_number=None,
        received_at=received_at,
        book_version=1,
        office_open=True,
    )
