"""Which clients and calls a notification is for: each rule once, next to the SQL that is its index.

The functions decide. The SQL beside a function pre-selects rows in notify's read model so the
database can use an index; it may select more than the function keeps, never less. Fragments
use the read model's columns (calls aliased `c` where a subquery needs it) and named fields
for their parameters, filled in by the read model.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from services.notify.domain.mail import Action, Conversation
from services.notify.domain.model import Call, Client
from services.notify.domain.schedule import at_local, day_bounds

LOOKBACK = timedelta(days=7)
"""How far back a notification looks for a call whose message nobody was sent."""
AHEAD = timedelta(days=366)
"""Upper bound for 'received by now', generous for clocks that disagree a little."""
Window = tuple[datetime, datetime]
"""Calls received in [since, until)."""


def wants_mail_now(client: Client | None) -> bool:
    """A known, active client that asked for one mail per call."""
    return client is not None and client.active and client.mode == "per_call"


WANTS_MAIL_NOW_SQL = "mode = 'per_call' AND active"


def gets_digests(client: Client) -> bool:
    """An active client that asked for one mail a day."""
    return client.active and client.mode == "daily_digest"


GETS_DIGESTS_SQL = "mode = 'daily_digest' AND active"


def announced(call: Call | None) -> bool:
    """Whether notify tells anyone about the call: not when staff imported it from history."""
    return call is None or not call.imported


ANNOUNCED_SQL = "NOT imported"


def unreported(call: Call) -> bool:
    """A note or voicemail of an announced call was recorded that no notification carried yet."""
    return call.needs_report and announced(call)


REPORTED_SQL = (
    "coalesce((SELECT max(oc.messages) FROM {schema}.outgoing_calls oc "
    "JOIN {schema}.outgoing o USING (notification_id) "
    "WHERE oc.call_id = c.call_id AND o.state <> 'failed'), 0)"
)
"""`Call.reported`: the messages a notification carried that did not fail (a failed one
leaves its calls to the next notification)."""
UNREPORTED_SQL = "(messages > {reported} AND " + ANNOUNCED_SQL + ")"


def recent(now: datetime) -> Window:
    """The calls a per-call catch-up or a voicemail summary looks at."""
    return now - LOOKBACK, now + AHEAD


def digest_span(client: Client, day: date) -> Window:
    """The calls a digest looks at: received by the day's end, at most LOOKBACK before it."""
    start, end = day_bounds(day, client.office_hours)
    return start - LOOKBACK, end


RECEIVED_SQL = "client_id = {client} AND received_at >= {since} AND received_at < {until}"
"""The index of a Window for one client: calls (client_id, received_at)."""


def in_digest(client: Client, day: date, call: Call) -> bool:
    """Unreported, received in the day's span, and no voicemail still held past the day; or
    reported before, with appointment news of the day's span."""
    since, until = digest_span(client, day)
    if appointment_news_between(call, since, until):
        return True
    if not (unreported(call) and since <= call.received_at < until):
        return False
    return not call.held or (call.deliver_after is not None and call.deliver_after < until)


def follow_up_due(call: Call) -> bool:
    """An announced call whose message went out already and has no newer one waiting: news
    of its appointments needs a message of its own (no pending message will carry it)."""
    return announced(call) and call.reported > 0 and not call.needs_report


def appointment_news_between(call: Call, since: datetime, until: datetime) -> bool:
    """A reported call with an appointment change in [since, until) no notification carried."""
    return follow_up_due(call) and any(
        a.needs_report and since <= a.changed_at < until for a in call.appointments
    )


APPOINTMENT_NEWS_SQL = (
    "client_id = {client} AND changed_at >= {since} AND changed_at < {until} "
    "AND changes > {reported}"
)
"""The index of appointment_news_between: appointments (client_id, changed_at)."""
APPOINTMENT_REPORTED_SQL = (
    "coalesce((SELECT max(oa.changes) FROM {schema}.outgoing_appointments oa "
    "JOIN {schema}.outgoing o USING (notification_id) "
    "WHERE oa.appointment_id = a.appointment_id AND o.state <> 'failed'), 0)"
)
"""`Appointment.reported`: the changes a notification carried that did not fail."""


def catch_up_due(call: Call, now: datetime) -> bool:
    """A recent unreported message that is not an after-hours voicemail still held."""
    return unreported(call) and not call.held and call.received_at >= recent(now)[0]


def voicemail_due(call: Call, now: datetime) -> bool:
    """A recent, unreported after-hours voicemail whose next working day has begun."""
    return (
        call.held
        and unreported(call)
        and call.deliver_after is not None
        and call.deliver_after <= now
        and call.received_at >= recent(now)[0]
    )


VOICEMAIL_DUE_SQL = "deliver_after <= {now} AND received_at >= {since}"
"""The index of voicemail_due: calls (deliver_after) where it is set, i.e. held once."""


MailShown = Action | Literal["overdue"]
"""What a digest says of a conversation: what the bureau did, or that its answer is overdue."""


def mail_entry(client: Client, day: date, c: Conversation) -> MailShown | None:
    """How a conversation shows in the day's digest: still awaiting an answer that was due by
    the digest's time (received at most LOOKBACK before the day), else what the bureau did
    that local day; None (not listed) for spam and for the rest."""
    start, end, due_by, lookback = mail_span(client, day)
    if c.spam:
        return None
    came, due = c.received_at, c.due_at
    if c.awaiting_answer and came and due and due <= due_by and came >= lookback:
        return "overdue"
    if c.action is not None and c.acted_at is not None and start <= c.acted_at < end:
        return c.action
    return None


MAIL_DIGEST_SQL = (
    "client_id = {client} AND action IS DISTINCT FROM 'spam' AND ("
    "(acted_at >= {since} AND acted_at < {until}) OR "
    "(due_at <= {due_by} AND received_at >= {lookback} "
    "AND (acted_at IS NULL OR acted_at < received_at)))"
)
"""The index of mail_entry: conversations (client_id, acted_at) and (client_id, due_at)."""


def mail_span(client: Client, day: date) -> tuple[datetime, datetime, datetime, datetime]:
    """The bounds mail_entry uses: the day's start and end, the digest's time, the look-back."""
    start, end = day_bounds(day, client.office_hours)
    return start, end, at_local(day, client.digest_time, client.office_hours), start - LOOKBACK
