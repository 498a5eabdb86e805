"""The seed's rule made real: a caller who said they would e-mail, and did.

A call noted with the follow-up "the caller will e-mail" waits for that mail for a while. A
mail that arrives within the window is the caller's when it comes from the address the
operator noted, or when its text (the signature) carries the caller's phone number. Such a
call is proposed as not billable, with the mail as its evidence; an operator or the client
confirms. Pure: the caller supplies the expectations and the mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.inbox.domain.mail import Mail

WINDOW = timedelta(days=3)
"""How long after the call a caller's mail still counts as the one they announced."""
_ADDRESS = re.compile(r"[^\s<>(),;:\"']+@[^\s<>(),;:\"']+")
MAX_SCANNED = 20_000
"""Characters of a mail's text searched for phone numbers (signatures sit at the end)."""


@dataclass(frozen=True)
class Expected:
    """A call whose caller said they would e-mail."""

    call_id: UUID
    client_id: UUID
    noted_at: datetime
    caller_number: str | None
    caller_email: str | None


@dataclass(frozen=True)
class Match:
    """A call the mail is evidence for, and why."""

    call_id: UUID
    by: Literal["address", "number"]
    """"address" or "number"."""


def address_in(detail: str) -> str | None:
    """The first valid e-mail address an operator wrote in a note's follow-up detail
    ("mailt vandaag vanaf j.bakker@example.nl"), lower-cased; None when there is none."""
    for candidate in _ADDRESS.findall(detail):
        try:
            checked = validate_email(candidate.strip("."), check_deliverability=False)
        except EmailNotValidError:
            continue
        return checked.normalized.lower()
    return None


def numbers_in(text: str, region: str = "NL") -> set[str]:
    """The phone numbers written in a text, in E.164 form (06-12345678 -> +31612345678)."""
    tail = text[-MAX_SCANNED:]
    found = set()
    for match in phonenumbers.PhoneNumberMatcher(tail, region):
        if phonenumbers.is_possible_number(match.number):
            found.add(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    return found


def matches(
    mail: Mail, client_id: UUID, arrived_at: datetime, expected: Sequence[Expected]
) -> list[Match]:
    """The calls of the client this mail is the announced mail of, most recent call first."""
    numbers: set[str] | None = None
    found = []
    for call in sorted(expected, key=lambda e: e.noted_at, reverse=True):
        if call.client_id != client_id or not call.noted_at <= arrived_at <= call.noted_at + WINDOW:
            continue
        if call.caller_email and call.caller_email.lower() == mail.sender.lower():
            found.append(Match(call.call_id, "address"))
            continue
        if call.caller_number:
            numbers = numbers if numbers is not None else numbers_in(mail.text)
            if call.caller_number in numbers:
                found.append(Match(call.call_id, "number"))
    return found
