"""The notify domain: given these events, which notifications go out, when, with what (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from libs.errors import Rejected
from libs.events import (
    CallReceived,
    ClientRegistered,
    Closure,
    EscalationDispatched,
    EscalationRequested,
    Event,
    NoteRecorded,
    NotificationPreferences,
    NotificationPreferencesChanged,
    OfficeHours,
    PerCallPlan,
    VoicemailRecorded,
    new_id,
)
from libs.events.values import Language
from services.notify.domain.model import (
    Call,
    Client,
    client_registered,
    evolve_call,
    evolve_client,
)
from services.notify.domain.model import received as received_call
from services.notify.domain.plan import (
    Notification,
    catch_up,
    check_digest_day,
    daily_digest,
    digest_run_day,
    digest_window,
    digests_due,
    earliest_digest_day,
    escalation,
    escalation_requested,
    language_of,
    notification_id,
    on_message,
    target_problem,
    voicemail_summary,
)
from services.notify.domain.schedule import next_opening

AMS = ZoneInfo("Europe/Amsterdam")
CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
TUESDAY = date(2026, 3, 10)
WINDOW = 7
"""Days before today a missed digest is still made for (the setting's default)."""


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An Amsterdam wall-clock time as a UTC instant."""
    return datetime.combine(day, time(hour, minute), AMS).astimezone(UTC)


def registered(mode: str = "daily_digest", language: Language = "nl", **prefs: Any) -> Client:
    """A client folded from its ClientRegistered event."""
    return client_registered(
        ClientRegistered(
            client_id=CLIENT,
            occurred_at=at(TUESDAY, 7),
            name="Bakker Installatie",
            contact_email="jan@bakker.nl",
            language=language,
            plan=PerCallPlan(),
            notification=NotificationPreferences(mode=mode, recipients=("jan@bakker.nl",), **prefs),
        )
    )


def received(when: datetime, *, office_open: bool = True) -> CallReceived:
    """A call to the client at an instant."""
    return CallReceived(
        client_id=CLIENT,
        occurred_at=when,
        call_id=new_id(),
        dialled_number="+31851234567",
        caller_number="+31612345678",
        received_at=when,
        book_version=1,
        office_open=office_open,
    )


def noted(call: CallReceived, message: str = "Please call back", minutes: int = 3) -> NoteRecorded:
    """The operator's note on a call, a few minutes after it came in."""
    return NoteRecorded(
        client_id=CLIENT,
        occurred_at=call.received_at + timedelta(minutes=minutes),
        call_id=call.call_id,
        operator_id="op-anna",
        book_version=1,
        caller_name="Piet Jansen",
        caller_company="Jansen BV",
        caller_number="+31687654321",
        message=message,
        follow_up="call_back",
    )


def voicemail(call: CallReceived) -> VoicemailRecorded:
    """A voicemail left on a call."""
    return VoicemailRecorded(
        client_id=CLIENT,
        occurred_at=call.received_at + timedelta(minutes=1),
        call_id=call.call_id,
        recording_ref="rec-1",
        duration_seconds=42,
        summary="Boiler leaks",
    )


def fold(events: Sequence[Event], hours: OfficeHours | None = None) -> Call:
    """One call after its events."""
    call: Call | None = None
    for event in events:
        call = evolve_call(call, event, hours or OfficeHours())
    assert call is not None
    return call


def digest_client(registered_at: datetime, timezone: str = "Europe/Amsterdam") -> Client:
    """A digest client registered at an instant, its office in a timezone."""
    client = registered("daily_digest")
    return replace(client, registered_at=registered_at, office_hours=OfficeHours(timezone=timezone))


def reported(call: Call) -> Call:
    """The call once a notification carried its latest message."""
    return replace(call, reported=call.messages)


# per_call


def test_a_per_call_client_gets_one_mail_per_note_right_away() -> None:
    client = registered("per_call")
    call = received(at(TUESDAY, 10))
    [mail] = on_message(client, fold([call, noted(call)]))
    assert (mail.kind, mail.channel, mail.recipients) == ("per_call", "email", ("jan@bakker.nl",))
    assert mail.call_ids == (call.call_id,)
    assert mail.notification_id == notification_id(f"per_call:{call.call_id}:1")
    assert mail.reference_at == at(TUESDAY, 10, 3)


def test_a_later_note_is_a_new_message_with_its_own_mail() -> None:
    client = registered("per_call")
    call = received(at(TUESDAY, 10))
    first = fold([call, noted(call)])
    [update] = on_message(
        client, evolve_call(reported(first), noted(call, "Update", 9), client.office_hours)
    )
    [original] = on_message(client, first)
    assert update.notification_id != original.notification_id
    assert update.calls[0].note is not None
    assert update.calls[0].note.message == "Update"


def test_the_same_note_always_gives_the_same_notification_id() -> None:
    client = registered("per_call")
    call = received(at(TUESDAY, 10))
    first = on_message(client, fold([call, noted(call)]))
    again = on_message(client, fold([call, noted(call)]))
    assert [n.notification_id for n in first] == [n.notification_id for n in again]


def test_a_digest_client_gets_nothing_per_call_and_an_unknown_client_waits() -> None:
    call = received(at(TUESDAY, 10))
    assert on_message(registered("daily_digest"), fold([call, noted(call)])) == []
    assert on_message(None, fold([call, noted(call)])) == []


def test_a_voicemail_in_office_hours_is_mailed_like_a_note() -> None:
    call = received(at(TUESDAY, 10))
    [mail] = on_message(registered("per_call"), fold([call, voicemail(call)]))
    assert mail.calls[0].voicemail is not None
    assert mail.kind == "per_call"


def test_catch_up_mails_recent_unreported_notes_once_the_client_is_known() -> None:
    client = registered("per_call")
    old, recent, done = (received(at(TUESDAY - timedelta(days=d), 10)) for d in (9, 1, 1))
    calls = [fold([c, noted(c)]) for c in (old, recent)] + [reported(fold([done, noted(done)]))]
    mails = catch_up(client, calls, at(TUESDAY, 9))
    assert [m.call_ids for m in mails] == [(recent.call_id,)]


def test_switching_to_per_call_is_a_preference_change() -> None:
    client = registered("daily_digest")
    change = NotificationPreferencesChanged(
        client_id=CLIENT,
        occurred_at=at(TUESDAY, 12),
        notification=NotificationPreferences(mode="per_call", recipients=("kim@bakker.nl",)),
    )
    switched = evolve_client(client, change)
    assert (switched.mode, switched.recipients) == ("per_call", ("kim@bakker.nl",))


# daily digest


def test_the_digest_is_due_once_the_digest_time_has_passed_and_only_once() -> None:
    client = registered("daily_digest")
    assert digests_due(client, at(TUESDAY, 17, 14), set(), WINDOW) == []
    assert digests_due(client, at(TUESDAY, 17, 15), set(), WINDOW) == [TUESDAY]
    assert digests_due(client, at(TUESDAY, 23, 59), {TUESDAY}, WINDOW) == []
    assert digests_due(registered("per_call"), at(TUESDAY, 18), set(), WINDOW) == []


def test_the_digest_time_is_the_clients_own() -> None:
    client = registered("daily_digest", digest_time=time(8, 30))
    assert digests_due(client, at(TUESDAY, 8, 29), set(), WINDOW) == []
    assert digests_due(client, at(TUESDAY, 8, 30), set(), WINDOW) == [TUESDAY]


def test_digests_missed_while_notify_was_down_are_due_oldest_first() -> None:
    client = registered("daily_digest")
    friday = TUESDAY + timedelta(days=3)
    due = digests_due(client, at(friday, 18), {TUESDAY}, WINDOW)
    assert due == [TUESDAY + timedelta(days=n) for n in (1, 2, 3)]
    assert digests_due(client, at(friday, 18), set(due) | {TUESDAY}, WINDOW) == []


def test_a_missed_day_is_due_while_todays_digest_time_has_not_come() -> None:
    client = registered("daily_digest")
    wednesday = TUESDAY + timedelta(days=1)
    assert digests_due(client, at(wednesday, 9), set(), WINDOW) == [TUESDAY]
    assert digests_due(client, at(wednesday, 17, 14), {TUESDAY}, WINDOW) == []
    assert digests_due(client, at(wednesday, 17, 15), set(), WINDOW) == [TUESDAY, wednesday]


def test_no_digest_is_due_for_a_day_before_the_client_was_registered() -> None:
    client = digest_client(at(TUESDAY, 18))  # after Tuesday's digest time: it still has one
    thursday = TUESDAY + timedelta(days=2)
    assert digests_due(client, at(thursday, 9), set(), WINDOW) == [TUESDAY, TUESDAY + timedelta(1)]
    assert digests_due(client, at(TUESDAY, 18), set(), WINDOW) == [TUESDAY]


def test_a_registration_stamped_after_notifys_today_leaves_todays_digest_due() -> None:
    client = digest_client(at(TUESDAY + timedelta(days=1), 8))  # the clocks disagree
    assert digests_due(client, at(TUESDAY, 18), set(), WINDOW) == [TUESDAY]


def test_catch_up_reaches_back_at_most_the_window_even_when_the_clock_jumps_weeks() -> None:
    client = digest_client(at(TUESDAY - timedelta(days=90), 8))
    today = TUESDAY + timedelta(weeks=3)
    weeks_later = at(today, 18)
    assert digests_due(client, weeks_later, set(), WINDOW) == [
        today - timedelta(days=n) for n in range(WINDOW, -1, -1)
    ]
    assert digests_due(client, weeks_later, set(), 0) == [today]
    done = {today - timedelta(days=3)}
    assert digests_due(client, weeks_later, done, 3) == [today - timedelta(n) for n in (2, 1, 0)]


def test_missed_digests_made_oldest_first_each_carry_their_own_days_calls() -> None:
    client = registered("daily_digest")
    wednesday = TUESDAY + timedelta(days=1)
    tuesdays, wednesdays = received(at(TUESDAY, 10)), received(at(wednesday, 10))
    calls = [fold([c, noted(c)]) for c in (tuesdays, wednesdays)]
    first = daily_digest(client, TUESDAY, calls)
    assert first is not None
    assert first.call_ids == (tuesdays.call_id,)
    second = daily_digest(client, wednesday, [reported(calls[0]), calls[1]])
    assert second is not None
    assert (second.call_ids, second.day) == ((wednesdays.call_id,), wednesday)


def test_the_days_and_the_digest_times_are_the_clients_local_ones() -> None:
    registered_at = at(TUESDAY, 23, 30)  # Wednesday 07:30 in Tokyo
    friday = TUESDAY + timedelta(days=3)
    now = datetime.combine(friday, time(12), UTC)  # 13:00 in Amsterdam, 21:00 in Tokyo
    wednesday, thursday = (TUESDAY + timedelta(days=n) for n in (1, 2))
    tokyo = digest_client(registered_at, "Asia/Tokyo")
    assert digests_due(tokyo, now, set(), WINDOW) == [wednesday, thursday, friday]
    amsterdam = digest_client(registered_at)
    assert digests_due(amsterdam, now, set(), WINDOW) == [TUESDAY, wednesday, thursday]


@pytest.mark.parametrize("timezone", ["Etc/GMT+12", "Pacific/Kiritimati", "Europe/Amsterdam"])
@pytest.mark.parametrize("utc_hour", [0, 12, 23])
def test_the_days_read_from_the_database_cover_every_timezones_window(
    timezone: str, utc_hour: int
) -> None:
    now = datetime.combine(TUESDAY, time(utc_hour, 30), UTC)
    client = digest_client(at(TUESDAY - timedelta(days=90), 8), timezone)
    assert digest_window(client, now, WINDOW)[0] >= earliest_digest_day(now, WINDOW)


def test_a_digest_carries_every_unreported_call_of_the_day_in_order() -> None:
    client = registered("daily_digest")
    morning, noon, unnoted = (received(at(TUESDAY, h)) for h in (9, 12, 14))
    calls = [fold([noon, noted(noon)]), fold([morning, noted(morning)]), fold([unnoted])]
    digest = daily_digest(client, TUESDAY, calls)
    assert digest is not None
    assert digest.call_ids == (morning.call_id, noon.call_id)
    assert digest.notification_id == notification_id(f"daily_digest:{CLIENT}:{TUESDAY}")
    assert (digest.kind, digest.day, digest.language) == ("daily_digest", TUESDAY, "nl")


def test_a_digest_leaves_out_reported_calls_and_later_days() -> None:
    client = registered("daily_digest")
    done, tomorrow = received(at(TUESDAY, 9)), received(at(TUESDAY + timedelta(days=1), 9))
    calls = [reported(fold([done, noted(done)])), fold([tomorrow, noted(tomorrow)])]
    assert daily_digest(client, TUESDAY, calls) is None


def test_a_call_noted_after_the_digest_rolls_over_to_the_next_digest() -> None:
    client = registered("daily_digest")
    late = received(at(TUESDAY, 17, 40))
    digest = daily_digest(client, TUESDAY + timedelta(days=1), [fold([late, noted(late)])])
    assert digest is not None
    assert digest.call_ids == (late.call_id,)


# after-hours voicemail


def test_the_next_working_day_skips_weekends_and_public_holidays() -> None:
    hours = OfficeHours()
    friday_evening = at(date(2026, 3, 13), 18)
    assert next_opening(hours, friday_evening) == at(date(2026, 3, 16), 8)
    before_easter = at(date(2026, 4, 2), 18)  # Good Friday and Easter Monday are closed
    assert next_opening(hours, before_easter) == at(date(2026, 4, 7), 8)
    early = at(TUESDAY, 6)
    assert next_opening(hours, early) == at(TUESDAY, 8)


def test_the_next_working_day_respects_closures_ending_mid_morning() -> None:
    closed = Closure(starts_at=at(TUESDAY, 0), ends_at=at(TUESDAY, 10, 30), reason="outing")
    hours = OfficeHours(closures=(closed,))
    assert next_opening(hours, at(TUESDAY - timedelta(days=1), 18)) == at(TUESDAY, 10, 30)


def test_an_after_hours_voicemail_waits_for_the_next_working_day() -> None:
    call = received(at(date(2026, 3, 13), 19), office_open=False)  # Friday evening
    held = fold([call, voicemail(call)])
    assert held.held
    assert held.deliver_after == at(date(2026, 3, 16), 8)
    assert on_message(registered("per_call"), held) == []


def test_per_call_clients_get_a_voicemail_summary_at_the_next_opening() -> None:
    client = registered("per_call", language="de")
    calls = [received(at(date(2026, 3, 13), h), office_open=False) for h in (19, 22)]
    held = [fold([c, voicemail(c)]) for c in calls]
    assert voicemail_summary(client, held, at(date(2026, 3, 16), 7, 59)) is None
    summary = voicemail_summary(client, held, at(date(2026, 3, 16), 8))
    assert summary is not None
    assert (summary.kind, summary.language) == ("voicemail_summary", "de")
    assert summary.call_ids == tuple(c.call_id for c in calls)
    assert voicemail_summary(client, [reported(h) for h in held], at(date(2026, 3, 16), 9)) is None


def test_digest_clients_find_after_hours_voicemail_in_the_next_working_days_digest() -> None:
    client = registered("daily_digest")
    evening = received(at(TUESDAY, 20), office_open=False)
    held = fold([evening, voicemail(evening)])
    assert daily_digest(client, TUESDAY, [held]) is None
    digest = daily_digest(client, TUESDAY + timedelta(days=1), [held])
    assert digest is not None
    assert digest.call_ids == (evening.call_id,)


def test_an_after_hours_call_with_a_note_is_an_ordinary_message() -> None:
    call = received(at(TUESDAY, 20), office_open=False)
    [mail] = on_message(registered("per_call"), fold([call, voicemail(call), noted(call)]))
    assert mail.kind == "per_call"


# language and escalations


def test_mails_are_in_the_clients_language_and_dutch_when_unknown() -> None:
    call = received(at(TUESDAY, 10))
    for language in ("nl", "en", "de", "fr"):
        [mail] = on_message(registered("per_call", language=language), fold([call, noted(call)]))
        assert mail.language == language
    assert language_of(None) == "nl"


def dispatched(channel: str, target: str) -> EscalationDispatched:
    """Routing tries one contact over one channel."""
    return EscalationDispatched(
        client_id=CLIENT,
        occurred_at=at(TUESDAY, 10, 5),
        call_id=new_id(),
        escalation_id=new_id(),
        attempt=1,
        contact_index=0,
        channel=channel,
        target=target,
        ack_due_at=at(TUESDAY, 10, 15),
    )


def test_an_escalation_goes_to_its_target_and_reports_no_call() -> None:
    dispatch = dispatched("sms", "+31611111111")
    request = EscalationRequested(
        client_id=CLIENT,
        occurred_at=at(TUESDAY, 10, 4),
        call_id=dispatch.call_id,
        escalation_id=dispatch.escalation_id,
        urgency_kind="leak",
        reason="Water everywhere",
    )
    call = fold([received(at(TUESDAY, 10))])
    sms = escalation(
        dispatch, registered(language="en"), escalation_requested(request), call, "https://ack"
    )
    assert isinstance(sms, Notification)
    assert (sms.kind, sms.channel, sms.recipients, sms.language) == (
        "escalation", "sms", ("+31611111111",), "en",
    )  # fmt: skip
    assert sms.alert is not None
    assert (sms.alert.reason, sms.alert.ack_url) == (
        "Water everywhere",
        "https://ack",
    )
    assert sms.call_ids == ()


def test_a_transfer_is_not_a_message_and_bad_targets_are_named() -> None:
    assert escalation(dispatched("transfer", "+31611111111"), None, None, None, None) is None
    assert target_problem("sms", "+31611111111") is None
    assert target_problem("email", "+31611111111") is not None
    assert target_problem("chat", "https://hooks.example/x") is None
    assert target_problem("sms", "jan@bakker.nl") is not None


# the client's own "today"


def test_a_digest_runs_for_the_clients_own_today_around_its_midnight() -> None:
    just_after_tokyo_midnight = datetime.combine(TUESDAY, time(15, 30), UTC)  # 00:30 Wed, Tokyo
    tokyo = digest_client(at(TUESDAY - timedelta(days=30), 8), "Asia/Tokyo")
    amsterdam = digest_client(at(TUESDAY - timedelta(days=30), 8))
    wednesday = TUESDAY + timedelta(days=1)
    assert digest_run_day(tokyo, None, just_after_tokyo_midnight) == wednesday
    assert digest_run_day(amsterdam, None, just_after_tokyo_midnight) == TUESDAY
    assert digest_run_day(tokyo, wednesday, just_after_tokyo_midnight) == wednesday
    assert digest_run_day(amsterdam, wednesday, just_after_tokyo_midnight) is None


def test_a_requested_day_is_refused_only_when_it_has_begun_for_nobody() -> None:
    now = datetime.combine(TUESDAY, time(15, 30), UTC)  # Wednesday in Tokyo, Tuesday here
    wednesday, thursday = TUESDAY + timedelta(days=1), TUESDAY + timedelta(days=2)
    tokyo = digest_client(at(TUESDAY - timedelta(days=30), 8), "Asia/Tokyo")
    check_digest_day(wednesday, [tokyo], now)
    check_digest_day(TUESDAY, [], now)
    with pytest.raises(Rejected, match="has not begun"):
        check_digest_day(wednesday, [], now)
    with pytest.raises(Rejected, match="has not begun"):
        check_digest_day(thursday, [tokyo], now)
    with pytest.raises(Rejected, match="no digests before"):
        check_digest_day(date(1999, 12, 31), [tokyo], now)


def test_a_call_just_before_the_clients_midnight_is_in_that_days_digest() -> None:
    new_york = ZoneInfo("America/New_York")
    late = datetime.combine(TUESDAY, time(23, 50), new_york)  # Wednesday 03:50 UTC
    client = digest_client(at(TUESDAY - timedelta(days=30), 8), "America/New_York")
    arrived = received(late)
    call = fold([arrived, noted(arrived)])
    digest = daily_digest(client, TUESDAY, [call])
    assert digest is not None
    assert digest.call_ids == (call.call_id,)
    assert digest_run_day(client, None, late + timedelta(minutes=5)) == TUESDAY
    assert digest_run_day(client, None, late + timedelta(minutes=15)) == TUESDAY + timedelta(1)


def test_the_digest_is_due_at_the_clients_digest_time_not_the_servers() -> None:
    client = digest_client(at(TUESDAY - timedelta(days=30), 8), "America/New_York")
    new_york = ZoneInfo("America/New_York")
    before = datetime.combine(TUESDAY, time(17, 14), new_york)
    after = datetime.combine(TUESDAY, time(17, 15), new_york)
    assert TUESDAY not in digests_due(client, before, set(), WINDOW)
    assert TUESDAY in digests_due(client, after, set(), WINDOW)


# calls staff imported from history


def test_a_call_staff_imported_is_never_announced() -> None:
    call = received(at(TUESDAY, 10)).model_copy(update={"imported": True})
    imported = fold([call, noted(call)])
    assert (imported.imported, imported.needs_report) == (True, True)
    per_call = registered("per_call")
    assert on_message(per_call, imported) == []
    assert catch_up(per_call, [imported], at(TUESDAY, 11)) == []
    assert daily_digest(registered("daily_digest"), TUESDAY, [imported]) is None
    dispatch = EscalationDispatched(
        client_id=CLIENT, occurred_at=at(TUESDAY, 10, 5), call_id=call.call_id,
        escalation_id=new_id(), attempt=1, contact_index=0, channel="sms",
        target="+31611111111", ack_due_at=at(TUESDAY, 10, 15),
    )  # fmt: skip
    assert escalation(dispatch, per_call, None, imported, None) is None
    assert escalation(dispatch, per_call, None, replace(imported, imported=False), None)


def test_a_call_first_seen_by_its_message_learns_it_was_imported() -> None:
    call = received(at(TUESDAY, 10)).model_copy(update={"imported": True})
    early = fold([noted(call)])
    assert early.imported is False
    learned = received_call(early, call)
    assert learned is not None
    assert (learned.imported, learned.messages) == (True, 1)
    assert received_call(learned, call) is None, "nothing more to keep"
    assert received_call(None, call) == fold([call])
