"""One e-mail as the inbox keeps it: its identity, threading headers, text, safe HTML and
attachments, parsed from the raw RFC 5322 bytes. Pure (standard library and nh3).

A mail is known by its Message-ID, so the same mail delivered twice, or fetched again after a
restart, is one mail; a mail without one gets an id derived from its bytes. HTML is cleaned
with an allow-list (nh3: no scripts, styles that run, event handlers or javascript: links),
so it can be shown to an operator as it is. Control characters are dropped and header values
are made one line (a subject or name decoded from an encoded word may hold line breaks: kept,
it could inject headers into a reply), and a broken multipart keeps its text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import nh3

MAX_TEXT = 200_000
"""Characters of text or HTML kept of one mail (the rest is cut, and said so)."""
_MESSAGE_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,500})>")
_ANGLED = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters no text keeps (tab, newline and carriage return stay in bodies)."""
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|tr|antw|sv|vs)\s*(\[\d+\])?\s*:\s*)+", re.I)
SAFE_SCHEMES = {"http", "https", "mailto", "cid"}


class UnreadableMail(ValueError):
    """The bytes are not a mail that can be kept (no sender, no headers)."""


@dataclass(frozen=True)
class Attachment:
    """One attached file: what it is called and is, how big, and its bytes."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """Its size in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """Its fingerprint: where it is stored, and how it is found again."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Mail:
    """A parsed mail."""

    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    sender: str
    sender_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    sent_at: datetime | None
    text: str
    html: str
    attachments: tuple[Attachment, ...]

    @property
    def topic(self) -> str:
        """The subject without reply and forward prefixes (Re:, Fwd:, AW:, Antw: ...)."""
        return _SUBJECT_PREFIX.sub("", self.subject).strip()


def parse(raw: bytes) -> Mail:
    """The mail in the bytes; UnreadableMail when it has no sender."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    senders = _addresses(message, "from")
    if not senders:
        raise UnreadableMail("the mail names no sender (From)")
    name, sender = senders[0]
    text, html, attachments = _body(message)
    return Mail(
        message_id=message_id(" ".join(_raw(message, "message-id")[:1]) or None, raw),
        in_reply_to=_first_id(" ".join(_raw(message, "in-reply-to")[:1]) or None),
        references=tuple(_ids(" ".join(_raw(message, "references"))))[-50:],
        sender=sender,
        sender_name=name,
        to=tuple(address for _, address in _addresses(message, "to"))[:50],
        cc=tuple(address for _, address in _addresses(message, "cc"))[:50],
        subject=_header(message, "subject")[:500],
        sent_at=_date(" ".join(_raw(message, "date")[:1]) or None),
        text=_cut(safe_text(text)),
        html=_cut(clean_html(safe_text(html))) if html else "",
        attachments=tuple(attachments),
    )


def message_id(header: object, raw: bytes) -> str:
    """The mail's Message-ID without its brackets, or one derived from its bytes."""
    found = _first_id(header)
    if found:
        return found
    return f"{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.frontdesk"


def safe_text(text: str) -> str:
    """Text any store keeps and any screen shows: no NUL or other control characters (but
    tabs and line breaks), no lone surrogates."""
    cleaned = _CONTROL.sub("", text)
    return cleaned.encode("utf-8", "replace").decode("utf-8")


def one_line(text: str) -> str:
    """A header value as one safe line: line breaks and runs of space become one space, so a
    value decoded from an encoded word can never start a header of its own in a reply."""
    return " ".join(safe_text(text).split())


def clean_html(html: str) -> str:
    """HTML with only safe tags, attributes and link schemes left."""
    return nh3.clean(html, url_schemes=SAFE_SCHEMES, link_rel="noopener noreferrer nofollow")


def _body(message: EmailMessage) -> tuple[str, str, list[Attachment]]:
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = _content(text_part) if text_part is not None else ""
    html = _content(html_part) if html_part is not None else ""
    if text_part is None and html_part is None:
        payload = message.get_payload()  # a broken multipart (no boundary): its text as it is
        text = payload if isinstance(payload, str) else ""
    attachments = []
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        filename = one_line(part.get_filename() or "attachment").replace("/", "_")
        filename = filename.replace("\\", "_") or "attachment"
        attachments.append(Attachment(filename[:200], part.get_content_type(), data))
    return text, html, attachments


def _content(part: object) -> str:
    assert isinstance(part, EmailMessage)
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown or lying charset: keep what can be read
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _raw(message: EmailMessage, name: str) -> list[str]:
    """A header's values as they came, unparsed (parsing a hostile one may fail)."""
    return [str(value) for key, value in message.raw_items() if key.lower() == name]


def _decoded(value: str) -> str:
    """A header text with its encoded words decoded, as one safe line."""
    try:
        return one_line(str(make_header(decode_header(value))))
    except (HeaderParseError, LookupError, ValueError, UnicodeError):
        return one_line(value)


def _addresses(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    try:
        pairs = getaddresses([str(v) for v in message.get_all(name, [])])
    except (HeaderParseError, ValueError, IndexError, TypeError):  # e.g. a line break encoded
        pairs = _bracketed(_raw(message, name))  # in a display name
    found = []
    for display, address in pairs:
        if "@" in address and len(address) <= 254 and address == one_line(address):
            found.append((_decoded(display)[:200], address.lower()))
    return found


def _bracketed(values: list[str]) -> list[tuple[str, str]]:
    """Name and address of each value the header parser refused: the address in angle
    brackets, the text before it as the name."""
    found = []
    for value in values:
        match = _ANGLED.search(value)
        if match:
            found.append((value[: match.start()].strip().strip('"'), match.group(1)))
    return found


def _header(message: EmailMessage, name: str) -> str:
    values = _raw(message, name)
    return _decoded(values[0]) if values else ""


def _ids(value: object) -> list[str]:
    return _MESSAGE_ID.findall(str(value)) if value is not None else []


def _first_id(value: object) -> str | None:
    found = _ids(value)
    return found[0] if found else None


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "\n[...]"
