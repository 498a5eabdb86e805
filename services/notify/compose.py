"""Renders a notification into subject, plain text and HTML from the jinja2 templates.

Labels come from templates/i18n/<language>.json; HTML templates (*.html.j2) autoescape, so
whatever a caller or operator typed is shown, never interpreted. In plain text, typed text
cannot pass for the mail's own lines: control characters go, single-line fields (names,
subjects) get spaces for line breaks, and the text templates indent the continuation lines
of multi-line fields (messages, notes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from libs.events.values import Language
from services.notify.domain.appointments import Appointment, Slot
from services.notify.domain.mail import Conversation
from services.notify.domain.model import Call, Note
from services.notify.domain.plan import MailEntry, Notification
from services.notify.domain.schedule import zone_named
from services.notify.domain.welcome import Codes, Welcome, dialled, shown

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_MAX = 200
_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters, and the bidi overrides that can make text read as something else."""
Labels = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """A notification as it is sent: one-line subject, plain text, and HTML for e-mail."""

    subject: str
    text: str
    html: str | None


class Composer:
    """Renders notifications with the templates of one directory."""

    def __init__(self, brand: str = "Frontdesk", directory: Path = TEMPLATES) -> None:
        self.brand, self.directory = brand, directory
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["one_line"] = single_line

    def labels(self, language: Language) -> Labels:
        """The texts of one language."""
        return _labels(self.directory, language)

    def render(self, n: Notification) -> Rendered:
        """Subject and bodies of a notification, in its language."""
        context = self._context(n)
        if n.channel == "sms":
            return Rendered(context["subject"], self._text("escalation_sms.txt.j2", context), None)
        text = self._text(f"{n.template}.txt.j2", context)
        html = None if n.channel == "chat" else self._text(f"{n.template}.html.j2", context)
        return Rendered(context["subject"], text, html)

    def _text(self, template: str, context: dict[str, Any]) -> str:
        return self.env.get_template(template).render(context)

    def _context(self, n: Notification) -> dict[str, Any]:
        t = self.labels(n.language)
        tz = zone_named(n.timezone)
        calls = [call_view(t, call, tz) for call in n.calls]
        day = day_text(t, n.day) if n.day else ""
        client = single_line(n.client_name or "") or self.brand
        values = {"day": day, "count": len(calls), "client": client, "mails": len(n.mails),
                  "brand": self.brand}  # fmt: skip
        update = appointment_view(t, n.update, tz) if n.update else None
        return {
            "t": t,
            "language": n.language,
            "brand": self.brand,
            "calls": calls,
            "mails": [mail_view(t, entry, tz) for entry in n.mails],
            "subject": one_line(subject(t, n, calls, values, update)),
            "intro": intro(t, n, calls, values),
            "footer": t["footer"].format(brand=self.brand),
            "alert": alert_view(t, n, tz),
            "update": update,
            "welcome": welcome_view(t, n.welcome) if n.welcome else None,
        }


def subject(
    t: Labels,
    n: Notification,
    calls: list[dict[str, Any]],
    values: dict[str, Any],
    update: dict[str, Any] | None = None,
) -> str:
    """The subject line (before it is made one line)."""
    if update is not None:
        key = f"subject_appointment_{update['status']}"
        return str(t[key].format(title=update["title"] or t["appointment"], when=update["when"]))
    if n.kind == "per_call" and calls:
        first = calls[0]
        key = "subject_per_call_updated" if first["updated"] else "subject_per_call"
        return str(t[key].format(caller=first["caller_name"], time=first["time"]))
    if n.kind == "escalation" and n.alert is not None and n.alert.about_mail:
        return str(t["subject_escalation_mail"].format(client=values["client"]))
    if n.kind == "escalation" and n.alert is not None:
        kind = n.alert.urgency_kind or t["urgency"]
        return str(t["subject_escalation"].format(kind=kind, client=values["client"]))
    if n.kind == "daily_digest" and not calls:
        return str(t["subject_daily_digest_mail"].format(**values))
    if n.kind == "welcome" and n.welcome is not None:
        number = n.welcome.numbers[0] if n.welcome.numbers else ""
        return str(t["subject_welcome"].format(brand=values["brand"], number=shown(number)))
    return str(t[f"subject_{n.kind}"].format(**values))


def intro(t: Labels, n: Notification, calls: list[dict[str, Any]], values: dict[str, Any]) -> str:
    """The sentence before the calls: the kind's, or a follow-up's naming the call."""
    if n.update is not None and calls:
        first = calls[0]
        return str(
            t["intro_appointment_update"].format(caller=first["caller_name"], time=first["time"])
        )
    if n.kind == "daily_digest" and not calls:
        return str(t["intro_daily_digest_mail"].format(**values))
    if n.kind == "escalation" and n.alert is not None and n.alert.about_mail:
        return str(t["intro_escalation_mail"].format(**values))
    return str(t[f"intro_{n.kind}"].format(**values))


WELCOME_CODES = (
    "forward_all", "stop_all", "forward_busy", "forward_no_answer", "forward_unreachable",
    "stop_conditional",
)  # fmt: skip


def codes_view(t: Labels, codes: Codes, number: str) -> list[dict[str, str]]:
    """Each code of a line kind that is set: what it does, and what to dial."""
    rows = []
    for name in WELCOME_CODES:
        code = getattr(codes, name)
        if code:
            rows.append({"label": t[f"welcome_{name}"], "dial": dialled(code, number)})
    return rows


def welcome_view(t: Labels, welcome: Welcome) -> dict[str, Any]:
    """What the welcome mail shows: the number, the codes to dial, the messages, the urgent."""
    number = welcome.numbers[0] if welcome.numbers else ""
    messages = (
        t["welcome_per_call"] if welcome.mode == "per_call"
        else t["welcome_digest"].format(time=welcome.digest_time.strftime(t["time_format"]))
    )  # fmt: skip
    return {
        "numbers": [single_line(shown(n)) for n in welcome.numbers],
        "standard": codes_view(t, welcome.standard, number),
        "variants": [
            {
                "name": single_line(v.name),
                "note": single_line(v.note),
                "codes": codes_view(t, v.codes, number),
            }
            for v in welcome.variants
        ],
        "messages": messages,
        "urgent": [single_line(u.description) or single_line(u.kind) for u in welcome.urgent],
    }


def call_view(t: Labels, call: Call, tz: ZoneInfo) -> dict[str, Any]:
    """What the templates show of one call, formatted for the reader."""
    note = call.note
    number = (note.caller_number if note else None) or call.caller_number
    view: dict[str, Any] = {
        "time": call.received_at.astimezone(tz).strftime(t["datetime_format"]),
        "updated": call.messages > 1,
        "note": note is not None,
        "caller_name": single_line(note.caller_name if note else (number or t["number_withheld"])),
        "caller_number": single_line(number or t["number_withheld"]),
        "voicemail": None,
        "appointments": [appointment_view(t, a, tz) for a in call.appointments],
        "appointment_news": call.appointment_news and not call.needs_report,
    }
    if note is not None:
        view |= note_view(t, note)
    if call.voicemail is not None:
        vm = call.voicemail
        duration = f"{vm.duration_seconds // 60}:{vm.duration_seconds % 60:02d}"
        view["voicemail"] = {
            "duration": duration,
            "summary": lines(vm.summary),
            "recording": single_line(vm.recording_ref),
        }
    return view


def note_view(t: Labels, note: Note) -> dict[str, Any]:
    """The operator's note as the templates show it: one-line fields flat, the others lines."""
    return {
        "caller_company": single_line(note.caller_company),
        "message": lines(note.message),
        "follow_up": single_line(t["follow_ups"].get(note.follow_up, note.follow_up)),
        "follow_up_detail": single_line(note.follow_up_detail),
        "actions_taken": lines(note.actions_taken),
        "information_given": lines(note.information_given),
    }


def appointment_view(t: Labels, a: Appointment, tz: ZoneInfo) -> dict[str, Any]:
    """What the templates show of an appointment: what became of it, what, when, where, who."""
    attendee = [a.attendee_name, a.attendee_phone or "", a.attendee_email]
    times = [span_text(t, slot, tz) for slot in a.times]
    return {
        "status": a.status,
        "headline": t[f"appointment_{a.status}"],
        "title": single_line(a.title),
        "when": times[0] if times else "-",
        "times": times,
        "location": single_line(a.location),
        "attendee": single_line(", ".join(part for part in attendee if part)),
        "reason": single_line(a.reason),
    }


def span_text(t: Labels, slot: Slot, tz: ZoneInfo) -> str:
    """A stretch of time on the reader's clock: its day with the weekday, from and until."""
    start, end = slot.start.astimezone(tz), slot.end.astimezone(tz)
    first = f"{day_text(t, start.date())} {start.strftime(t['time_format'])}"
    if end.date() == start.date():
        return f"{first}–{end.strftime(t['time_format'])}"
    return f"{first} – {day_text(t, end.date())} {end.strftime(t['time_format'])}"


def mail_view(t: Labels, entry: MailEntry, tz: ZoneInfo) -> dict[str, Any]:
    """What the templates show of a conversation: when, from whom, about what, what was done."""
    c = entry.conversation
    came = c.received_at or c.acted_at
    sender = sender_text(c)
    if entry.shown == "overdue":
        due = c.due_at.astimezone(tz).strftime(t["datetime_format"]) if c.due_at else "-"
        done = t["mail_overdue"].format(due=due)
    else:
        done = t[f"mail_{entry.shown}"]
        if c.acted_at is not None:
            done = f"{done} ({c.acted_at.astimezone(tz).strftime(t['time_format'])})"
    return {
        "time": came.astimezone(tz).strftime(t["datetime_format"]) if came else "-",
        "sender": sender or "-",
        "subject": single_line(c.subject or c.topic) or "-",
        "topic": single_line(c.topic) if c.subject and c.topic != c.subject else "",
        "overdue": entry.shown == "overdue",
        "done": single_line(done),
    }


def alert_view(t: Labels, n: Notification, tz: ZoneInfo) -> dict[str, Any] | None:
    """What the templates show of an escalation attempt."""
    if n.alert is None:
        return None
    due = n.alert.ack_due_at.astimezone(tz).strftime(t["datetime_format"])
    mail = overdue_mail_view(t, n.alert.conversation, tz) if n.alert.about_mail else None
    return {
        "urgency_kind": "" if mail else single_line(n.alert.urgency_kind),
        "reason": lines(n.alert.reason),
        "attempt": n.alert.attempt,
        "ack_url": n.alert.ack_url,
        "acknowledge_before": t["acknowledge_before"].format(time=due),
        "mail": mail,
    }


def overdue_mail_view(t: Labels, c: Conversation | None, tz: ZoneInfo) -> dict[str, Any]:
    """What an escalation message shows of the overdue mail ("-" for what is not known yet)."""
    if c is None:
        return {"sender": "-", "subject": "-", "received": "-", "due": "-"}
    return {
        "sender": sender_text(c) or "-",
        "subject": single_line(c.subject or c.topic) or "-",
        "received": _at(t, c.received_at, tz),
        "due": _at(t, c.due_at, tz),
    }


def sender_text(c: Conversation) -> str:
    """Who sent a conversation's latest mail: "Name <address>", or whichever is known."""
    name = single_line(c.sender_name)
    return f"{name} <{c.sender}>" if name and c.sender else name or single_line(c.sender)


def _at(t: Labels, at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime(t["datetime_format"]) if at else "-"


def day_text(t: Labels, day: date) -> str:
    """A day as the reader writes it, with its weekday."""
    return f"{t['weekdays'][day.weekday()]} {day.strftime(t['date_format'])}"


def one_line(text: str) -> str:
    """Text fit for a mail header: no line breaks, at most SUBJECT_MAX characters."""
    flat = re.sub(r"\s+", " ", single_line(text))
    return flat if len(flat) <= SUBJECT_MAX else flat[: SUBJECT_MAX - 1] + "…"


def single_line(text: str) -> str:
    """A field that is one line (a name, a kind): line breaks and tabs are spaces."""
    return _INVISIBLE.sub("", _BREAKS.sub(" ", text).replace("\t", " ")).strip()


def lines(text: str) -> str:
    """A field of several lines (a message): every line break one \\n, control characters gone."""
    return _INVISIBLE.sub("", _BREAKS.sub("\n", text)).strip()


@cache
def _labels(directory: Path, language: str) -> Labels:
    labels: Labels = json.loads((directory / "i18n" / f"{language}.json").read_text("utf-8"))
    return labels
