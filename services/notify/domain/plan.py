"""Which notifications go out, to whom, carrying which calls, and when. Pure.

- per_call clients get one mail per note (or in-hours voicemail) right away; a later note
  for the same call is a new message and gets its own mail.
- daily_digest clients get one mail per local day at their digest time, carrying every call
  whose latest message no notification has carried yet (received up to the end of that day,
  looking back at most LOOKBACK: a call noted after its day's digest rolls over). "Today" is
  the client's own day, in its office timezone. A digest whose time passed while notify was
  down is still made for its own day, oldest day first, back to the client's registration
  and at most a catch-up window of days.
- A voicemail left after hours waits for the next opening of the office (next working day).
  Digest clients find it in that day's digest; per_call clients get one voicemail summary
  at that opening, the first mail of their working day.
- Appointments booked, moved, cancelled or proposed from a call go with the call's message
  (its per-call mail or digest entry). News of one that comes after the call's message was
  queued gets a short follow-up mail of its own (per_call clients), or is in the next
  digest (daily_digest clients).
- Every notification has a dedupe key; its id (and Message-ID) is a UUIDv5 of that key.
- An escalation attempt over SMS, chat or e-mail is a message to its target: about an urgent
  call (why, the caller), or about a mail whose answer is overdue (from whom, about what, when
  it came, when the answer was due, as notify knows the conversation from the inbox).

Which calls each kind carries is decided in `filters` (with the SQL that pre-selects them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid5

from libs.errors import Rejected
from libs.events.calls import EscalationRequested
from libs.events.notify import NotificationKind
from libs.events.routing import EscalationDispatched
from libs.events.values import E164_PATTERN, Language, OfficeHours, is_email
from libs.office_hours import DEFAULT_ZONE
from services.notify.domain.appointments import Appointment
from services.notify.domain.filters import (
    MailShown,
    announced,
    catch_up_due,
    follow_up_due,
    gets_digests,
    in_digest,
    mail_entry,
    unreported,
    voicemail_due,
    wants_mail_now,
)
from services.notify.domain.mail import Conversation
from services.notify.domain.model import Call, Channel, Client
from services.notify.domain.schedule import at_local, local_day
from services.notify.domain.welcome import Urgency, Variant, Welcome, welcome

NAMESPACE = UUID("6f1c7d2e-4b5a-5e8f-9a3b-2c1d0e9f8a7b")
DEFAULT_LANGUAGE: Language = "nl"
EARLIEST_DIGEST_DAY = date(2000, 1, 1)


@dataclass(frozen=True)
class Escalation:
    """Why a call was escalated, as the operator recorded it."""

    escalation_id: UUID
    call_id: UUID
    urgency_kind: str
    reason: str


@dataclass(frozen=True)
class Alert:
    """What an escalation message says: why, which attempt, until when, where to ack."""

    escalation_id: UUID
    attempt: int
    urgency_kind: str
    reason: str
    ack_due_at: datetime
    ack_url: str | None
    about_mail: bool = False
    """An overdue mail's escalation (else an urgent call's)."""
    conversation: Conversation | None = None
    """The overdue mail as notify knows it (None when its events have not arrived yet)."""


@dataclass(frozen=True)
class MailEntry:
    """A conversation in a digest, and what the digest says of it."""

    conversation: Conversation
    shown: MailShown


@dataclass(frozen=True)
class Notification:
    """One message to one set of recipients, identified by its dedupe key."""

    notification_id: UUID
    dedupe_key: str
    client_id: UUID
    kind: NotificationKind
    channel: Channel
    recipients: tuple[str, ...]
    language: Language
    client_name: str = ""
    timezone: str = DEFAULT_ZONE
    calls: tuple[Call, ...] = ()
    day: date | None = None
    alert: Alert | None = None
    reference_at: datetime | None = None
    correlation_id: UUID | None = None
    update: Appointment | None = None
    """For a follow-up: the appointment whose news it brings."""
    mails: tuple[MailEntry, ...] = ()
    """For a digest: the conversations the bureau acted on that day, or that are overdue."""
    welcome: Welcome | None = None
    """For a welcome: the number, how to forward to it, when messages come, what is urgent."""

    @property
    def template(self) -> str:
        """The templates that render it: its kind's, or the appointment follow-up's."""
        return "appointment_update" if self.update is not None else self.kind

    @property
    def call_ids(self) -> tuple[UUID, ...]:
        """The calls whose message this notification reports (an escalation reports none)."""
        if self.kind == "escalation":
            return ()
        return tuple(call.call_id for call in self.calls)


def target_problem(channel: Channel, target: str) -> str | None:
    """Why a target cannot be reached over a channel, or None when it fits."""
    if channel == "email" and is_email(target):
        return None
    patterns = {"sms": E164_PATTERN, "chat": r"^https?://[^\s]+$"}
    if channel != "email" and re.match(patterns[channel], target):
        return None
    return f"{target!r} is not a valid {channel} target"


def notification_id(dedupe_key: str) -> UUID:
    """The deterministic id of the notification with this dedupe key."""
    return uuid5(NAMESPACE, dedupe_key)


def language_of(client: Client | None) -> Language:
    """The language to write to a client in (Dutch when the client is not known yet)."""
    return client.language if client is not None else DEFAULT_LANGUAGE


def escalation_requested(event: EscalationRequested) -> Escalation:
    """The reason of an escalation, kept for the messages that carry it."""
    return Escalation(event.escalation_id, event.call_id, event.urgency_kind, event.reason)


def on_message(client: Client | None, call: Call) -> list[Notification]:
    """Right after a note or voicemail: a per-call mail, when the client wants one now."""
    if client is None or not wants_mail_now(client) or call.held or not unreported(call):
        return []
    return [per_call_mail(client, call)]


def per_call_mail(client: Client, call: Call) -> Notification:
    """The mail carrying one call's latest message."""
    return _mail(client, f"per_call:{call.call_id}:{call.messages}", "per_call", [call])


def on_appointment(
    client: Client | None, call: Call | None, appointment: Appointment, event_id: UUID
) -> list[Notification]:
    """After an appointment's event: a follow-up mail when the call's message is out already.

    Otherwise the call's message still to come (per-call mail, voicemail summary, digest)
    carries the appointment as it is by then. One dedupe key per event: a redelivery of the
    event queues nothing a second time.
    """
    if client is None or call is None or not wants_mail_now(client) or not follow_up_due(call):
        return []
    key = f"appointment:{appointment.appointment_id}:{event_id}"
    mail = _mail(client, key, "per_call", [call])
    return [replace(mail, update=appointment, reference_at=appointment.changed_at)]


def on_activation(
    client: Client | None, activation_id: UUID, numbers: tuple[str, ...],
    variants: tuple[Variant, ...], urgent: tuple[Urgency, ...],
) -> list[Notification]:  # fmt: skip
    """The welcome mail of an activated client (once per activation: its event's id is the
    dedupe key); none while the client has no number or nobody to write to."""
    if client is None or not numbers or not client.recipients:
        return []
    mail = _mail(client, f"welcome:{activation_id}", "welcome", [])
    return [replace(mail, welcome=welcome(client, numbers, variants, urgent))]


def catch_up(client: Client, calls: Iterable[Call], now: datetime) -> list[Notification]:
    """Per-call mails for recent messages nobody was sent (client just known or switched)."""
    if not wants_mail_now(client):
        return []
    due = [call for call in calls if catch_up_due(call, now)]
    return [per_call_mail(client, call) for call in sorted(due, key=_received)]


def digests_due(
    client: Client, now: datetime, done: Iterable[date], catch_up_days: int
) -> list[date]:
    """The local days, oldest first, whose digest time has passed and that have no digest yet."""
    if not gets_digests(client):
        return []
    ran = set(done)
    return [
        day
        for day in digest_window(client, now, catch_up_days)
        if day not in ran and now >= digest_at(client, day)
    ]


def digest_window(client: Client, now: datetime, catch_up_days: int) -> list[date]:
    """Today and the `catch_up_days` before it, oldest first, from the registration day on."""
    today = local_day(now, client.office_hours)
    # A registration stamped after notify's today (clocks disagree a little) still leaves
    # today's digest due, as it always was.
    registered = min(local_day(client.registered_at, client.office_hours), today)
    first = max(today - timedelta(days=catch_up_days), registered)
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


def earliest_digest_day(now: datetime, catch_up_days: int) -> date:
    """A day before which no client's digest window reaches at `now`, whatever its timezone."""
    # A local date is at most one day off the UTC date (zones run from UTC-12 to UTC+14).
    return now.astimezone(UTC).date() - timedelta(days=catch_up_days + 1)


def digest_run_day(client: Client, requested: date | None, now: datetime) -> date | None:
    """The requested day, else the client's own today; None: not begun yet where it is."""
    today = local_day(now, client.office_hours)
    day = requested or today
    return day if day <= today else None


def check_digest_day(day: date, clients: Iterable[Client], now: datetime) -> None:
    """Refuse a day before digests existed, or one begun for no client nor the default zone."""
    if day < EARLIEST_DIGEST_DAY:
        raise Rejected(f"no digests before {EARLIEST_DIGEST_DAY}")
    zones = [client.office_hours for client in clients] + [OfficeHours()]
    if all(day > local_day(now, hours) for hours in zones):
        raise Rejected(f"{day} has not begun yet; digests run for today or earlier")


def digest_at(client: Client, day: date) -> datetime:
    """The instant of the client's digest on a local day."""
    return at_local(day, client.digest_time, client.office_hours)


def digest_calls(client: Client, day: date, calls: Iterable[Call]) -> tuple[Call, ...]:
    """Calls for the day's digest: unreported, received by the day's end, voicemail due."""
    due = [call for call in calls if in_digest(client, day, call)]
    return tuple(sorted(due, key=_received))


def digest_mails(
    client: Client, day: date, conversations: Iterable[Conversation]
) -> tuple[MailEntry, ...]:
    """The conversations the day's digest lists, in the order their mail came."""
    entries = [MailEntry(c, shown) for c in conversations if (shown := mail_entry(client, day, c))]
    return tuple(sorted(entries, key=_mail_order))


def daily_digest(
    client: Client,
    day: date,
    calls: Iterable[Call],
    conversations: Iterable[Conversation] = (),
) -> Notification | None:
    """The day's one digest mail (calls, mail handled), or None when there is nothing to report."""
    included = digest_calls(client, day, calls)
    mails = digest_mails(client, day, conversations)
    if not included and not mails:
        return None
    digest = _mail(client, f"daily_digest:{client.client_id}:{day}", "daily_digest", included, day)
    return replace(digest, mails=mails)


def voicemail_summary(client: Client, calls: Iterable[Call], now: datetime) -> Notification | None:
    """For a per_call client: after-hours voicemails whose next working day has begun."""
    if not wants_mail_now(client):
        return None
    due = [call for call in calls if voicemail_due(call, now)]
    if not due:
        return None
    opening = max(call.deliver_after for call in due if call.deliver_after is not None)
    key = f"voicemail_summary:{client.client_id}:{opening.isoformat()}"
    day = local_day(opening, client.office_hours)
    return _mail(client, key, "voicemail_summary", sorted(due, key=_received), day)


def escalation(
    dispatch: EscalationDispatched,
    client: Client | None,
    why: Escalation | None,
    call: Call | None,
    ack_url: str | None,
    conversation: Conversation | None = None,
) -> Notification | None:
    """The message of one escalation attempt over SMS, chat or e-mail (not a transfer, and
    none for a call staff imported): about the call, or about the overdue mail."""
    if dispatch.channel == "transfer" or not announced(call):
        return None
    about_mail = dispatch.conversation_id is not None
    key = (
        f"escalation:{dispatch.escalation_id}:{dispatch.attempt}:"
        f"{dispatch.contact_index}:{dispatch.channel}"
    )
    alert = Alert(
        escalation_id=dispatch.escalation_id,
        attempt=dispatch.attempt,
        urgency_kind=why.urgency_kind if why else "",
        reason=why.reason if why else "",
        ack_due_at=dispatch.ack_due_at,
        ack_url=ack_url,
        about_mail=about_mail,
        conversation=conversation if about_mail else None,
    )
    return Notification(
        notification_id=notification_id(key),
        dedupe_key=key,
        client_id=dispatch.client_id,
        kind="escalation",
        channel=dispatch.channel,
        recipients=(dispatch.target,),
        language=language_of(client),
        client_name=client.name if client else "",
        timezone=client.office_hours.timezone if client else DEFAULT_ZONE,
        calls=(call,) if call else (),
        alert=alert,
        reference_at=dispatch.occurred_at,
        correlation_id=dispatch.correlation_id,
    )


def _mail(
    client: Client,
    key: str,
    kind: NotificationKind,
    calls: Iterable[Call],
    day: date | None = None,
) -> Notification:
    included = tuple(calls)
    return Notification(
        notification_id=notification_id(key),
        dedupe_key=key,
        client_id=client.client_id,
        kind=kind,
        channel="email",
        recipients=client.recipients,
        language=client.language,
        client_name=client.name,
        timezone=client.office_hours.timezone,
        calls=included,
        day=day,
        reference_at=min((call.message_at for call in included), default=None),
        correlation_id=included[0].correlation_id if len(included) == 1 else None,
    )


def _received(call: Call) -> datetime:
    return call.received_at


def _mail_order(entry: MailEntry) -> tuple[datetime, str]:
    c = entry.conversation
    return (c.received_at or c.acted_at or datetime.min.replace(tzinfo=UTC), str(c.conversation_id))
