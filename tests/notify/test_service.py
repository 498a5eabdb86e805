"""Notify's service layer in-process: reactions, digest runs, voicemail summaries and the retry
rule on the real PostgreSQL, each test in one transaction rolled back at its end.

No processes, no Kafka traffic, no SMTP: events are handed to the reactions directly, commands
are called directly, a fixed clock tells the time, and the outcome is what lands in the
outgoing queue (and, for the sender, in notify's event store). Nothing sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from libs.events import (
    ClientRegistered,
    EscalationDispatched,
    Event,
    NotificationPreferences,
    NotificationPreferencesChanged,
    OfficeHours,
    VoicemailRecorded,
)
from services.notify import commands, directory
from services.notify.delivery import DeliveryError
from services.notify.workers import sender
from tests.notify.service_layer import Service, Transport, fake_transports, rolled_back_service
from tests.support.builders import (
    call_received,
    escalation_requested,
    note_recorded,
    registered,
)

pytestmark = [pytest.mark.infra]

AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY = date(2026, 3, 10)
FRIDAY = date(2026, 3, 13)
MONDAY = date(2026, 3, 16)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = AMS) -> datetime:
    """A wall-clock time in a zone as a UTC instant."""
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


@pytest.fixture
def transports() -> dict[str, Transport]:
    """One fake transport per channel."""
    return fake_transports()


@pytest.fixture
async def svc(database_url: str, transports: dict[str, Transport]) -> AsyncIterator[Service]:
    """Notify's tables in a fresh schema inside a transaction that is rolled back after."""
    async with rolled_back_service(database_url, transports, at(TUESDAY, 9)) as service:
        yield service


def per_call(**fields: Any) -> ClientRegistered:
    """A per-call client registered a month before the test's Tuesday."""
    prefs = NotificationPreferences(mode="per_call", recipients=("jan@bakker.nl",))
    return registered(at=at(TUESDAY, 8) - timedelta(days=30), notification=prefs, **fields)


def digest(**fields: Any) -> ClientRegistered:
    """A daily-digest client registered a month before the test's Tuesday."""
    prefs = NotificationPreferences(mode="daily_digest", recipients=("jan@bakker.nl",))
    return registered(at=at(TUESDAY, 8) - timedelta(days=30), notification=prefs, **fields)


def noted(client_id: UUID, when: datetime, message: str = "Please call back") -> list[Event]:
    """A call at an instant with the operator's note three minutes later."""
    call = call_received(client_id, when)
    return [call, note_recorded(call, message, when + timedelta(minutes=3))]


# reactions


async def test_a_per_call_note_is_queued_in_the_reactions_own_transaction(svc: Service) -> None:
    client = per_call()
    await svc.react(client, *noted(client.client_id, at(TUESDAY, 9, 20)))
    [row] = await svc.outgoing(client.client_id)
    assert (row["kind"], row["channel"], row["state"]) == ("per_call", "email", "pending")
    assert row["recipients"] == ["jan@bakker.nl"]
    assert "Please call back" in row["body_text"]


async def test_notes_that_arrived_before_the_client_are_mailed_once_it_is_known(
    svc: Service,
) -> None:
    client = per_call()
    await svc.react(*noted(client.client_id, at(TUESDAY, 8, 30)))
    assert await svc.outgoing(client.client_id) == []
    await svc.react(client)
    [row] = await svc.outgoing(client.client_id)
    assert row["kind"] == "per_call"


async def test_an_escalation_over_chat_is_queued_to_its_webhook(svc: Service) -> None:
    client = per_call()
    call = call_received(client.client_id, at(TUESDAY, 10))
    request = escalation_requested(call, at(TUESDAY, 10, 1))
    dispatch = EscalationDispatched(
        client_id=client.client_id, occurred_at=at(TUESDAY, 10, 2), call_id=call.call_id,
        escalation_id=request.escalation_id, attempt=1, contact_index=0, channel="chat",
        target="https://hooks.example.com/bakker", ack_due_at=at(TUESDAY, 10, 12),
    )  # fmt: skip
    await svc.react(client, call, request, dispatch)
    [row] = await svc.outgoing(client.client_id)
    assert (row["kind"], row["channel"]) == ("escalation", "chat")
    assert row["recipients"] == ["https://hooks.example.com/bakker"]
    assert row["call_ids"] == []


async def test_a_call_staff_imported_is_never_announced(svc: Service) -> None:
    client = per_call()
    call = call_received(client.client_id, at(TUESDAY, 8, 50), imported=True)
    noted_at = at(TUESDAY, 8, 55)
    request = escalation_requested(call, noted_at)
    dispatch = EscalationDispatched(
        client_id=client.client_id, occurred_at=noted_at, call_id=call.call_id,
        escalation_id=request.escalation_id, attempt=1, contact_index=0, channel="sms",
        target="+31611111111", ack_due_at=at(TUESDAY, 9, 5),
    )  # fmt: skip
    await svc.react(client, call, note_recorded(call, "Oud bericht", noted_at), request, dispatch)
    assert await svc.outgoing(client.client_id) == [], "no message mail, no escalation"
    await svc.react(*noted(client.client_id, at(TUESDAY, 9)))  # a live call still is mailed
    [row] = await svc.outgoing(client.client_id)
    assert "Oud bericht" not in row["body_text"]


async def test_a_call_staff_imported_stays_out_of_digests_and_catch_ups(svc: Service) -> None:
    client = digest()
    imported = call_received(client.client_id, at(TUESDAY, 9), imported=True)
    await svc.react(client, imported, note_recorded(imported, "Oud bericht", at(TUESDAY, 9, 3)))
    [run] = await _run_digests(svc, TUESDAY, at(TUESDAY, 17, 15))
    assert (run.calls, run.notification_id) == (0, None)
    switched = NotificationPreferencesChanged(
        client_id=client.client_id, occurred_at=at(TUESDAY, 17, 20),
        notification=NotificationPreferences(mode="per_call", recipients=("jan@bakker.nl",)),
    )  # fmt: skip
    await svc.react(switched)
    assert await svc.outgoing(client.client_id) == []


# the digest run


async def test_a_digest_carries_the_days_unreported_calls_once(svc: Service) -> None:
    client = digest()
    await svc.react(client, *noted(client.client_id, at(TUESDAY, 9)))
    await svc.react(*noted(client.client_id, at(TUESDAY, 14)))
    assert await svc.outgoing(client.client_id) == []
    known = await directory.load_client(svc.conn, svc.schema, client.client_id)
    assert known is not None
    now = at(TUESDAY, 17, 15)
    first = await commands.run_digest(svc.pool, svc.schema, svc.notifier, known, TUESDAY, now)
    assert (first.created, first.calls) == (True, 2)
    again = await commands.run_digest(svc.pool, svc.schema, svc.notifier, known, TUESDAY, now)
    assert (again.created, again.notification_id) == (False, first.notification_id)
    [row] = await svc.outgoing(client.client_id)
    assert (row["kind"], row["notification_id"], len(row["call_ids"])) == (
        "daily_digest", first.notification_id, 2,
    )  # fmt: skip


async def test_a_failed_digest_leaves_its_calls_to_the_next_one(svc: Service) -> None:
    client = digest()
    await svc.react(client, *noted(client.client_id, at(TUESDAY, 9)))
    first = await _run_digests(svc, None, at(TUESDAY, 17, 15))
    await svc.conn.execute(f"UPDATE {svc.schema}.outgoing SET state = 'failed'")
    wednesday = TUESDAY + timedelta(days=1)
    [second] = await _run_digests(svc, None, at(wednesday, 17, 15))
    assert (second.day, second.calls) == (wednesday, 1)
    assert second.notification_id != first[0].notification_id


async def test_a_digest_run_makes_each_clients_own_today(svc: Service) -> None:
    tokyo = digest(office_hours=OfficeHours(timezone="Asia/Tokyo"))
    amsterdam = digest()
    await svc.react(tokyo, amsterdam)
    now = datetime.combine(TUESDAY, time(15, 30), UTC)  # Wednesday 00:30 in Tokyo
    days = {o.client_id: o.day for o in await _run_digests(svc, None, now)}
    assert days == {tokyo.client_id: TUESDAY + timedelta(days=1), amsterdam.client_id: TUESDAY}
    later = {o.client_id for o in await _run_digests(svc, TUESDAY + timedelta(days=1), now)}
    assert later == {tokyo.client_id}


async def test_a_call_just_before_the_clients_midnight_is_in_that_days_digest(
    svc: Service,
) -> None:
    new_york = ZoneInfo("America/New_York")
    client = digest(office_hours=OfficeHours(timezone="America/New_York"))
    await svc.react(client, *noted(client.client_id, at(TUESDAY, 23, 50, new_york)))
    after_midnight = at(TUESDAY + timedelta(days=1), 0, 5, new_york)
    [made] = await _run_digests(svc, TUESDAY, after_midnight)
    assert (made.day, made.calls) == (TUESDAY, 1)


# after-hours voicemail


async def test_after_hours_voicemail_is_summarised_at_the_next_opening(svc: Service) -> None:
    client = per_call()
    call = call_received(client.client_id, at(FRIDAY, 19), office_open=False)
    left = VoicemailRecorded(
        client_id=client.client_id, occurred_at=at(FRIDAY, 19, 1), call_id=call.call_id,
        recording_ref="rec-1", duration_seconds=42, summary="Boiler leaks",
    )  # fmt: skip
    await svc.react(client, call, left)
    assert await svc.outgoing(client.client_id) == []
    summaries = commands.voicemail_summaries
    assert await summaries(svc.pool, svc.schema, svc.notifier, at(MONDAY, 7, 59)) == 0
    assert await summaries(svc.pool, svc.schema, svc.notifier, at(MONDAY, 8)) == 1
    assert await summaries(svc.pool, svc.schema, svc.notifier, at(MONDAY, 9)) == 0
    [row] = await svc.outgoing(client.client_id)
    assert (row["kind"], row["call_ids"]) == ("voicemail_summary", [call.call_id])


# the retry rule, driven through the sender


async def test_a_transient_failure_is_retried_later_and_a_permanent_one_is_final(
    svc: Service,
) -> None:
    client = per_call()
    await svc.react(client, *noted(client.client_id, at(TUESDAY, 9, 20)))
    svc.transports["email"].failures = [
        DeliveryError("421 try later", permanent=False),
        DeliveryError("550 no such mailbox", permanent=True),
    ]
    await _send_due(svc)
    [row] = await svc.outgoing(client.client_id)
    assert (row["state"], row["attempts"], row["error"]) == ("pending", 1, "421 try later")
    assert row["wait"] == timedelta(seconds=10)
    await _make_due(svc)
    await _send_due(svc)
    [row] = await svc.outgoing(client.client_id)
    assert (row["state"], row["attempts"], row["permanent"]) == ("failed", 2, True)
    failures = await svc.events("NotificationFailed")
    assert [f["permanent"] for f in failures] == [False, True]


async def test_the_last_claims_failure_gives_up(svc: Service) -> None:
    client = per_call()
    await svc.react(client, *noted(client.client_id, at(TUESDAY, 9, 20)))
    svc.transports["email"].failures = [DeliveryError("421", permanent=False)] * 3
    for _ in range(3):
        await _send_due(svc)
        await _make_due(svc)
    [row] = await svc.outgoing(client.client_id)
    assert (row["state"], row["attempts"], row["permanent"]) == ("failed", 3, True)


async def test_a_chat_message_sent_is_on_record_as_sent_over_chat(svc: Service) -> None:
    client = per_call()
    call = call_received(client.client_id, at(TUESDAY, 10))
    request = escalation_requested(call, at(TUESDAY, 10, 1))
    dispatch = EscalationDispatched(
        client_id=client.client_id, occurred_at=at(TUESDAY, 10, 2), call_id=call.call_id,
        escalation_id=request.escalation_id, attempt=1, contact_index=0, channel="chat",
        target="https://hooks.example.com/bakker", ack_due_at=at(TUESDAY, 10, 12),
    )  # fmt: skip
    await svc.react(client, call, request, dispatch)
    await _send_due(svc)
    [sent] = svc.transports["chat"].sent
    assert sent.recipients == ("https://hooks.example.com/bakker",)
    [event] = await svc.events("NotificationSent")
    assert (event["channel"], event["recipients"]) == ("chat", ["https://hooks.example.com/bakker"])


async def _run_digests(
    svc: Service, day: date | None, now: datetime
) -> list[commands.DigestOutcome]:
    return await commands.run_digests(svc.pool, svc.schema, svc.notifier, day, now)


async def _send_due(svc: Service) -> None:
    await sender.send_due(svc, svc.notifier)  # type: ignore[arg-type]


async def _make_due(svc: Service) -> None:
    """Time on the queue is the database's: pull the next attempt back to make it due now."""
    await svc.conn.execute(
        f"UPDATE {svc.schema}.outgoing SET next_attempt_at = now() WHERE state = 'pending'"
    )
