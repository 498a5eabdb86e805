"""One e-mail as the inbox keeps it: its identity, threading headers, text, safe HTML and
attachments, parsed from the raw RFC 5322 bytes. Pure (standard library and nh3).

A mail is known by its Message-ID, so the same mail delivered twice, or fetched again after a
restart, is one mail; a mail without one gets an id derived from its bytes. HTML is cleaned
with an allow-list (nh3: no scripts, styles that run, event handlers or javascript: links),
so it can be shown to an operator as it is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import nh3

MAX_TEXT = 200_000
"""Characters of text or HTML kept of one mail (the rest is cut, and said so)."""
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,500})>")
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
        message_id=message_id(message.get("message-id"), raw),
        in_reply_to=_first_id(message.get("in-reply-to")),
        references=tuple(_ids(message.get("references")))[-50:],
        sender=sender,
        sender_name=name,
        to=tuple(address for _, address in _addresses(message, "to"))[:50],
        cc=tuple(address for _, address in _addresses(message, "cc"))[:50],
        subject=_header(message, "subject")[:500],
        sent_at=_date(message.get("date")),
        text=_cut(text),
        html=_cut(clean_html(html)) if html else "",
        attachments=tuple(attachments),
    )


def message_id(header: object, raw: bytes) -> str:
    """The mail's Message-ID without its brackets, or one derived from its bytes."""
    found = _first_id(header)
    if found:
        return found
    return f"{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.frontdesk"


def clean_html(html: str) -> str:
    """HTML with only safe tags, attributes and link schemes left."""
    return nh3.clean(html, url_schemes=SAFE_SCHEMES, link_rel="noopener noreferrer nofollow")


def _body(message: EmailMessage) -> tuple[str, str, list[Attachment]]:
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = _content(text_part) if text_part is not None else ""
    html = _content(html_part) if html_part is not None else ""
    attachments = []
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        filename = (part.get_filename() or "attachment").replace("/", "_").replace("\\", "_")
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


def _addresses(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    values = [str(v) for v in message.get_all(name, [])]
    found = []
    for display, address in getaddresses(values):
        if "@" in address and len(address) <= 254:
            found.append((display[:200], address.lower()))
    return found


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return " ".join(str(value).split()) if value is not None else ""


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
