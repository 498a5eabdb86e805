"""Conversations: mails threaded by their headers, each due within the client's agreed time.

A mail joins the conversation of the mail it answers (In-Reply-To, then its References from
the newest back); otherwise it starts one. Its answer is due the agreed time after it
arrived, counted in the client's office hours (a mail on Friday at 16:50 with four working
hours is due on Monday morning). Pure: the caller supplies what is known already.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from uuid import UUID

from libs.errors import Rejected
from libs.events.values import OfficeHours
from libs.office_hours import add_office_time
from services.inbox.domain.mail import Mail


def conversation_of(mail: Mail, known: Mapping[str, UUID]) -> UUID | None:
    """The conversation the mail belongs to, by the Message-IDs it refers to (None: new)."""
    for referred in (mail.in_reply_to, *reversed(mail.references)):
        if referred and referred in known:
            return known[referred]
    return None


def due_at(hours: OfficeHours, arrived_at: datetime, answer_within: timedelta) -> datetime:
    """When the answer to a mail that arrived at `arrived_at` is due, in office time."""
    if answer_within <= timedelta(0):
        raise Rejected("the agreed answer time must be positive")
    due = add_office_time(hours, arrived_at, answer_within)
    if due is None:
        raise Rejected("the client's office never opens: no answer could ever be due")
    return due
