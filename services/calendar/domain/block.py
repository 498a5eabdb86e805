"""The callback block: the open callbacks, kept in the time the client reserved for them.

The client reserves a block on some weekdays (say 16:00-17:00 on Monday to Friday). While
callbacks are open, one entry in the client's calendar, in the next such block that has not
ended yet, lists them; it moves on to the following block once a block has passed, and it is
removed when the list is empty. Its UID is fixed per client, so every update replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from libs.availability import Interval
from libs.events.calendar import CallbackBlock
from libs.events.values import Language
from services.calendar.domain.appointments import Appointment

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_LISTED = 50
TITLES: dict[Language, str] = {
    "nl": "Terugbellijst ({count})",
    "en": "Callback list ({count})",
    "de": "Rückrufliste ({count})",
    "fr": "Liste de rappels ({count})",
}
LINES: dict[Language, str] = {
    "nl": "{name} {number}: terugbellen vanaf {due}",
    "en": "{name} {number}: call back from {due}",
    "de": "{name} {number}: zurückrufen ab {due}",
    "fr": "{name} {number} : rappeler à partir de {due}",
}
MORE: dict[Language, str] = {
    "nl": "... en nog {count}",
    "en": "... and {count} more",
    "de": "... und {count} weitere",
    "fr": "... et {count} de plus",
}
HEADER: dict[Language, str] = {
    "nl": "Bijgehouden door het secretariaat; wordt bijgewerkt zodra de lijst verandert.",
    "en": "Kept by the answering service; updated whenever the list changes.",
    "de": "Vom Sekretariat geführt; wird aktualisiert, sobald sich die Liste ändert.",
    "fr": "Tenue par le secrétariat ; mise à jour dès que la liste change.",
}
ANONYMOUS: dict[Language, str] = {"nl": "Beller", "en": "Caller", "de": "Anrufer", "fr": "Appelant"}


@dataclass(frozen=True)
class OpenCallback:
    """What the block lists of one open callback."""

    caller_name: str
    caller_number: str
    due_at: datetime


def block_id(client_id: UUID) -> UUID:
    """The fixed id (and so UID) of a client's callback block entry."""
    return uuid5(NAMESPACE_URL, f"frontdesk:callback-block:{client_id}")


def next_block(block: CallbackBlock, zone: str, now: datetime) -> Interval | None:
    """The first occurrence of the block that has not ended at `now` (within two weeks)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    for offset in range(15):
        day = (local + timedelta(days=offset)).date()
        if _WEEKDAYS[day.weekday()] not in block.days:
            continue
        start = datetime.combine(day, block.start, tz)
        end = datetime.combine(day, block.end, tz)
        if end > now:
            return Interval(start, end)
    return None


def block_entry(
    client_id: UUID,
    when: Interval,
    callbacks: Sequence[OpenCallback],
    language: Language,
    zone: str,
) -> Appointment:
    """The calendar entry that lists the open callbacks in the block."""
    tz = ZoneInfo(zone)
    ordered = sorted(callbacks, key=lambda c: (c.due_at, c.caller_number))
    lines = [
        LINES[language].format(
            name=c.caller_name or ANONYMOUS[language],
            number=c.caller_number,
            due=c.due_at.astimezone(tz).strftime("%d-%m %H:%M"),
        )
        for c in ordered[:MAX_LISTED]
    ]
    if len(ordered) > MAX_LISTED:
        lines.append(MORE[language].format(count=len(ordered) - MAX_LISTED))
    return Appointment(
        appointment_id=block_id(client_id),
        when=when,
        title=TITLES[language].format(count=len(ordered)),
        description="\n".join([HEADER[language], "", *lines]),
    )
