"""A reply an operator writes from Frontdesk, as the mail that goes out.

Threaded to the mail it answers: In-Reply-To names that mail, References carries its
references followed by it (so every mail program files the reply with the conversation), the
subject gains one "Re: ". It goes out from the client's own address when the client allows
that (its domain must then let the bureau's relay send for it), or on its behalf: from the
bureau's address, with the client as Reply-To and in the display name. Pure (standard
library email).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from libs.errors import Rejected
from services.inbox.domain.mail import Mail

SendAs = Literal["client", "on_behalf"]
VIA: dict[str, str] = {
    "nl": "via het secretariaat",
    "en": "via the answering service",
    "de": "über das Sekretariat",
    "fr": "via le secrétariat",
}
"""What follows the client's name when the bureau writes on its behalf."""
FORWARDED: dict[str, str] = {
    "nl": "Deze mail kwam voor u binnen; het secretariaat stuurt hem u door.",
    "en": "This mail came in for you; the answering service forwards it to you.",
    "de": "Diese E-Mail ist für Sie eingegangen; das Sekretariat leitet sie Ihnen weiter.",
    "fr": "Ce courriel est arrivé pour vous ; le secrétariat vous le transmet.",
}
"""The note of a forward when the operator writes none, in the client's language."""
MAX_BODY = 50_000
MAX_REFERENCES = 20


@dataclass(frozen=True)
class Sender:
    """Who a client's replies come from."""

    client_name: str
    client_address: str
    bureau_address: str
    send_as: SendAs
    language: str = "nl"


def reply(original: Mail, body: str, sender: Sender, *, at: datetime, domain: str) -> EmailMessage:
    """The mail that answers `original` with `body`, threaded and addressed."""
    text = body.strip()
    if not text or len(text) > MAX_BODY:
        raise Rejected(f"a reply needs a text of 1 to {MAX_BODY} characters")
    message = EmailMessage()
    client = Address(display_name=sender.client_name, addr_spec=sender.client_address)
    if sender.send_as == "client":
        message["From"] = client
    else:
        message["From"] = Address(
            display_name=f"{sender.client_name} ({VIA.get(sender.language, VIA['nl'])})",
            addr_spec=sender.bureau_address,
        )
        message["Reply-To"] = client
    message["To"] = Address(display_name=original.sender_name, addr_spec=original.sender)
    message["Subject"] = subject_of(original.subject)
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=domain)
    message["In-Reply-To"] = f"<{original.message_id}>"
    chain = [*original.references, original.message_id][-MAX_REFERENCES:]
    message["References"] = " ".join(f"<{ref}>" for ref in chain)
    message.set_content(text)
    return message


def subject_of(subject: str) -> str:
    """The reply's subject: the original's with one "Re: " in front."""
    stripped = subject.strip()
    if stripped.lower().startswith("re:"):
        return stripped
    return f"Re: {stripped}" if stripped else "Re:"
