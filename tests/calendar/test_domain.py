"""The calendar's pure domain: free or busy now, until when, the next free slot; appointments."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.availability import (
    MIN_SLOT,
    Interval,
    availability,
    merged,
    next_free_slot,
)
from libs.errors import Conflict, Rejected
from libs.events.values import OfficeHours, WeeklySchedule
from services.calendar.domain import callbacks
from services.calendar.domain.appointments import Appointment, Attendee, checked, fits

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = date(2026, 1, 5)  # a working day; default office hours 08:00-17:00 in Amsterdam
OFFICE = OfficeHours()


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    """An Amsterdam wall-clock time on the Monday."""
    return datetime.combine(MONDAY, time(hour, minute, second), AMS)


def span(start: tuple[int, int], end: tuple[int, int]) -> Interval:
    """An interval between two Amsterdam times on the Monday."""
    return Interval(at(*start), at(*end))


DAY_END = at(23, 59)


class TestInterval:
    def test_a_naive_or_empty_interval_is_refused(self) -> None:
        with pytest.raises(ValueError, match="time zone"):
            Interval(datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10))
        with pytest.raises(ValueError, match="end after"):
            Interval(at(10), at(10))

    def test_half_open(self) -> None:
        meeting = span((9, 0), (10, 0))
        assert meeting.holds(at(9))
        assert not meeting.holds(at(10))
        assert not meeting.overlaps(span((10, 0), (11, 0)))
        assert meeting.overlaps(span((9, 59), (11, 0)))

    def test_overlapping_and_touching_blocks_are_joined(self) -> None:
        joined = merged([span((11, 0), (12, 0)), span((9, 0), (10, 0)), span((10, 0), (10, 30))])
        assert joined == [span((9, 0), (10, 30)), span((11, 0), (12, 0))]


class TestAvailability:
    def test_busy_now_until_the_end_of_the_meeting_and_the_next_free_slot_after_it(self) -> None:
        busy = [span((9, 0), (10, 0)), span((10, 0), (10, 30)), span((11, 0), (12, 0))]
        state = availability(at(9, 20), busy, DAY_END, OFFICE)
        assert (state.busy, state.until) == (True, at(10, 30))
        assert state.next_free == span((10, 30), (11, 0))

    def test_free_now_until_the_next_meeting(self) -> None:
        state = availability(at(8, 30), [span((9, 0), (10, 0))], DAY_END, OFFICE)
        assert (state.busy, state.until) == (False, at(9))
        assert state.next_free == span((8, 30), (9, 0))

    def test_a_gap_shorter_than_the_minimum_is_no_slot(self) -> None:
        busy = [span((9, 0), (10, 0)), span((10, 10), (16, 0))]
        state = availability(at(9, 30), busy, DAY_END, OFFICE)
        assert state.next_free == span((16, 0), (17, 0))  # 10:00-10:10 is too short

    def test_a_slot_ends_at_closing_time_to_the_second(self) -> None:
        slot = next_free_slot(at(16, 3, 27), [], DAY_END, OFFICE)
        assert slot == Interval(at(16, 3, 27), at(17))

    def test_no_free_slot_left_after_closing(self) -> None:
        state = availability(at(17, 30), [], DAY_END, OFFICE)
        assert (state.busy, state.until, state.next_free) == (False, None, None)

    def test_busy_past_the_day_looked_at_has_no_end(self) -> None:
        state = availability(
            at(16), [Interval(at(15), at(23, 59) + timedelta(hours=3))], DAY_END, OFFICE
        )
        assert (state.busy, state.until, state.next_free) == (True, None, None)

    def test_closed_on_a_public_holiday(self) -> None:
        new_year = datetime(2026, 1, 1, 10, tzinfo=AMS)
        slot = next_free_slot(new_year, [], new_year.replace(hour=23), OFFICE)
        assert slot is None

    def test_the_day_must_end_after_the_instant(self) -> None:
        with pytest.raises(ValueError, match="end of the day"):
            availability(at(10), [], at(10), OFFICE)

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        st.lists(st.tuples(st.integers(0, 23 * 60), st.integers(1, 240)), max_size=8),
        st.integers(7 * 60, 18 * 60),
    )
    def test_a_slot_is_free_open_and_long_enough(
        self, blocks: list[tuple[int, int]], minute: int
    ) -> None:
        start_of_day = datetime.combine(MONDAY, time(0), AMS)
        busy = [
            Interval(start_of_day + timedelta(minutes=s), start_of_day + timedelta(minutes=s + d))
            for s, d in blocks
        ]
        now = start_of_day + timedelta(minutes=minute)
        state = availability(now, busy, DAY_END, OFFICE)
        assert state.busy == any(b.holds(now) for b in busy)
        if state.next_free is not None:
            slot = state.next_free
            assert slot.start >= now
            assert slot.end - slot.start >= MIN_SLOT
            assert not any(b.overlaps(slot) for b in busy)
            assert slot.start.astimezone(AMS).time() >= time(8)
            assert slot.end.astimezone(AMS).time() <= time(17)


APPOINTMENT_ID = UUID("01890a5d-ac96-774b-bcce-b302099a8060")


def appointment(**overrides: object) -> Appointment:
    """An hour's appointment at 14:00 on the Monday, with the caller invited."""
    values: dict[str, object] = {
        "appointment_id": APPOINTMENT_ID,
        "when": span((14, 0), (15, 0)),
        "title": "Offerte warmtepomp - Piet Jansen",
        "location": "Dorpsstraat 1, Utrecht",
        "attendee": Attendee("Piet Jansen", "piet@jansen.example", "+31612345678"),
    }
    return Appointment(**(values | overrides))  # type: ignore[arg-type]


class TestAppointments:
    def test_the_uid_is_stable_per_appointment(self) -> None:
        assert appointment().uid == appointment(title="Another title").uid
        assert appointment().uid == f"{APPOINTMENT_ID}@frontdesk"

    def test_a_well_formed_appointment_passes(self) -> None:
        assert checked(appointment()) == appointment()

    @pytest.mark.parametrize(
        "overrides",
        [
            {"title": " "},
            {"title": "x" * 201},
            {"title": "Offerte\r\nATTENDEE:mailto:evil@example.com"},
            {"location": "here\nthere"},
            {"description": "x" * 2001},
            {"when": Interval(at(8), at(8) + timedelta(hours=13))},
        ],
    )
    def test_a_malformed_appointment_is_rejected(self, overrides: dict[str, object]) -> None:
        with pytest.raises(Rejected):
            checked(appointment(**overrides))

    def test_it_must_fit_in_the_free_time(self) -> None:
        fits(appointment(), [span((9, 0), (14, 0)), span((15, 0), (16, 0))])
        with pytest.raises(Conflict, match="busy from"):
            fits(appointment(), [span((14, 30), (16, 0))])


def test_intervals_compare_instants_not_zones() -> None:
    utc = Interval(at(9).astimezone(UTC), at(10).astimezone(UTC))
    assert utc.overlaps(span((9, 30), (9, 45)))


FRIDAY_21 = datetime(2026, 1, 9, 21, 0, tzinfo=AMS)
MONDAY_8 = datetime(2026, 1, 12, 8, 0, tzinfo=AMS)
CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8058")
CALLBACK = UUID("01890a5d-ac96-774b-bcce-b302099a8061")


def callback(asked_at: datetime = FRIDAY_21, **overrides: object) -> callbacks.Callback:
    """A callback for a Dutch caller's after-hours voicemail."""
    values: dict[str, object] = {
        "client_id": CLIENT,
        "call_id": CALL,
        "source": "voicemail",
        "language": "nl",
        "caller_number": "+31612345678",
        "caller_name": "Piet Jansen",
        "hours": OFFICE,
        "asked_at": asked_at,
    }
    return callbacks.schedule(CALLBACK, **(values | overrides))  # type: ignore[arg-type]


class TestCallbacks:
    def test_a_voicemail_on_friday_evening_is_due_on_monday_at_opening(self) -> None:
        assert callback().due_at == MONDAY_8
        assert callback().status == "open"

    def test_asked_while_open_it_is_due_at_once(self) -> None:
        assert callback(at(10, 15)).due_at == at(10, 15)

    def test_without_the_callers_number_there_is_nobody_to_call(self) -> None:
        with pytest.raises(Rejected, match="number"):
            callback(caller_number=None)

    def test_an_office_that_never_opens_cannot_have_callbacks(self) -> None:
        closed = OfficeHours(weekly=WeeklySchedule(mon=(), tue=(), wed=(), thu=(), fri=()))
        with pytest.raises(Rejected, match="never opens"):
            callback(hours=closed)

    def test_it_goes_to_the_least_loaded_operator_on_duty_who_speaks_the_language(self) -> None:
        roster = [
            callbacks.Operator("op-b", frozenset({"nl", "en"}), "available"),
            callbacks.Operator("op-a", frozenset({"nl"}), "busy"),
            callbacks.Operator("op-c", frozenset({"nl"}), "offline"),
            callbacks.Operator("op-d", frozenset({"de"}), "available"),
        ]
        assert callbacks.pick_operator(callback(), roster, {"op-b": 2, "op-a": 1}) == "op-a"
        assert callbacks.pick_operator(callback(), roster, {}) == "op-a"  # a tie: by id
        french = callback(language="fr")
        assert callbacks.pick_operator(french, roster, {}) is None

    def test_done_or_failed_with_a_reason_and_then_closed(self) -> None:
        done = callbacks.finish(callbacks.assign(callback(), "op-a"), "done")
        assert (done.status, done.assigned_to) == ("done", "op-a")
        with pytest.raises(Conflict, match="done already"):
            callbacks.finish(done, "failed", "no_answer")
        with pytest.raises(Conflict):
            callbacks.assign(done, "op-b")
        with pytest.raises(Rejected, match="reason"):
            callbacks.finish(callback(), "failed")
        failed = callbacks.finish(callback(), "failed", "no_answer")
        assert (failed.status, failed.reason) == ("failed", "no_answer")

    def test_overdue_once_past_due_and_grace_and_escalated_once(self) -> None:
        open_one = callback()
        grace = timedelta(minutes=30)
        assert not callbacks.overdue(open_one, MONDAY_8 + timedelta(minutes=29), grace)
        assert callbacks.overdue(open_one, MONDAY_8 + grace, grace)
        assert callbacks.to_escalate(open_one, MONDAY_8 + grace, grace)
        assert not callbacks.to_escalate(callbacks.escalated(open_one), MONDAY_8 + grace, grace)
        done = callbacks.finish(open_one, "done")
        assert not callbacks.overdue(done, MONDAY_8 + timedelta(days=1), grace)
