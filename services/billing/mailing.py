"""Invoice, credit-note and reminder mail: recorded first, sent after by the outbox worker.

`announce()` runs in the transaction that appends an invoice or credit note: it renders the
PDF and the UBL file, builds the mail (its Message-ID fixed there and then, derived from the
document, so it is the same on every attempt), appends InvoiceSent and queues the exact bytes
in `outgoing`. `remind()` does the same for a payment reminder. A crash before the commit
leaves nothing queued and nothing recorded; after it, services/billing/workers/sender.py
hands those very bytes to the relay, however often the process restarts. Replays never come
here: only commands (an invoice run, a top-up, the reminder timer) queue mail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from uuid import UUID

import aiosmtplib

from libs.events.billing import InvoiceSent, PaymentReminderSent
from libs.events.envelope import Actor, Event, new_id
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.billing import metrics, printing
from services.billing.directory import record_own
from services.billing.domain.money import euros
from services.billing.schemas import InvoiceDocument
from services.billing.settings import BillingSettings
from services.billing.texts import MAIL, language_of


class RelayUnavailable(Exception):
    """The SMTP server did not take the mail."""


def stream_of(document_id: UUID) -> str:
    """The stream of a document's mail: its InvoiceSent and reminders, in order."""
    return f"invoice-mail-{document_id}"


def message_id(kind: str, document_id: UUID, settings: BillingSettings, n: int = 0) -> str:
    """The Message-ID of a document's mail (or its n-th reminder): fixed by the document."""
    suffix = f"-{n}" if n else ""
    return f"<{kind}{suffix}-{document_id}@{settings.message_id_domain}>"


def _mail(
    settings: BillingSettings, to: Sequence[str], subject: str, body: str, mid: str,
    at: datetime, language: str,
) -> EmailMessage:  # fmt: skip
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = subject
    mail["From"] = settings.sender
    mail["To"] = ", ".join(to)
    mail["Date"] = format_datetime(at)
    mail["Message-ID"] = mid
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(body)
    mail["Content-Language"] = language
    return mail


def document_mail(
    document: InvoiceDocument, pdf_bytes: bytes, xml_bytes: bytes, settings: BillingSettings,
    mid: str, at: datetime,
) -> EmailMessage:  # fmt: skip
    """The mail of an invoice or credit note, its PDF and UBL XML attached."""
    words = MAIL[language_of(document.language)]
    values = _values(document, settings)
    mail = _mail(
        settings, [document.client_email], words[f"{document.kind}_subject"].format(**values),
        words[f"{document.kind}_body"].format(**values), mid, at, document.language,
    )  # fmt: skip
    mail["X-Frontdesk-Document"] = document.number
    name = f"{document.labels[document.kind].lower().replace(' ', '-')}-{document.number}"
    mail.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=f"{name}.pdf")
    mail.add_attachment(xml_bytes, maintype="application", subtype="xml", filename=f"{name}.xml")
    del mail["Content-Language"]  # set_content/add_attachment move content headers to the parts
    mail["Content-Language"] = document.language
    return mail


def _values(document: InvoiceDocument, settings: BillingSettings) -> dict[str, Any]:
    return {
        "number": document.number, "bureau": settings.bureau_name, "client": document.client_name,
        "period": document.period, "total": euros(document.total_cents),
        "due": document.due_date.isoformat() if document.due_date else "",
        "iban": settings.bureau_iban, "original": document.original_number or "",
        "date": document.issue_date.isoformat(),
    }  # fmt: skip


def reminder_mail(
    document: InvoiceDocument, n: int, due: date, outstanding_cents: int,
    settings: BillingSettings, mid: str, at: datetime,
) -> EmailMessage:  # fmt: skip
    """A payment reminder in the client's language."""
    words = MAIL[language_of(document.language)]
    values = {**_values(document, settings), "ordinal": n, "due": due.isoformat(),
              "outstanding": euros(outstanding_cents)}  # fmt: skip
    return _mail(
        settings, [document.client_email], words["reminder_subject"].format(**values),
        words["reminder_body"].format(**values), mid, at, document.language,
    )  # fmt: skip


async def announce(
    conn: Connection, store: EventStore, settings: BillingSettings, events: Sequence[Event],
    at: datetime,
) -> list[Event]:  # fmt: skip
    """Record and queue the mail of every invoice and credit note among `events`."""
    sent: list[Event] = []
    for event in events:
        document_id = getattr(event, "invoice_id", None) or getattr(event, "credit_note_id", None)
        if event.type not in ("InvoiceIssued", "CreditNoteIssued") or document_id is None:
            continue
        kind = "invoice" if event.type == "InvoiceIssued" else "credit_note"
        doc = await printing.printed(conn, store.schema, settings, document_id, kind, None)
        pdf_bytes, xml_bytes = await asyncio.to_thread(printing.files, doc, settings)
        mid = message_id(kind, document_id, settings)
        mail = document_mail(doc, pdf_bytes, xml_bytes, settings, mid, at)
        record = InvoiceSent(
            client_id=event.client_id, actor=event.actor, document_id=document_id,
            document_kind=kind, document_number=doc.number, message_id=mid,
            recipients=(doc.client_email,), language=doc.language, occurred_at=at,
            **event.caused(),
        )  # fmt: skip
        await _record_and_queue(conn, store, settings, record, mail, kind)
        sent.append(record)
    return sent


async def remind(
    conn: Connection, store: EventStore, settings: BillingSettings, document: InvoiceDocument,
    n: int, due: date, outstanding_cents: int, at: datetime, actor: Actor,
) -> PaymentReminderSent:  # fmt: skip
    """Record and queue reminder number `n` of an invoice."""
    assert document.document_id is not None
    assert document.client_id is not None
    mid = message_id("reminder", document.document_id, settings, n)
    mail = reminder_mail(document, n, due, outstanding_cents, settings, mid, at)
    record = PaymentReminderSent(
        client_id=document.client_id, actor=actor, invoice_id=document.document_id,
        invoice_number=document.number, reminder_number=n, due_date=due,
        outstanding_cents=outstanding_cents, message_id=mid, recipients=(document.client_email,),
        language=document.language, occurred_at=at,
    )  # fmt: skip
    await _record_and_queue(conn, store, settings, record, mail, "reminder")
    return record


async def _record_and_queue(
    conn: Connection, store: EventStore, settings: BillingSettings,
    record: InvoiceSent | PaymentReminderSent, mail: EmailMessage, kind: str,
) -> None:  # fmt: skip
    document_id = record.document_id if isinstance(record, InvoiceSent) else record.invoice_id
    await store.append(stream_of(document_id), None, [record], conn=conn)
    await record_own(conn, store.schema, [record])
    await conn.execute(
        f"INSERT INTO {store.schema}.outgoing (outgoing_id, client_id, document_id, kind, "
        "message_id, raw, mail_from, rcpt_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        new_id(), record.client_id, document_id, kind, record.message_id, mail.as_bytes(),
        parseaddr(settings.sender)[1], list(record.recipients),
    )  # fmt: skip
    metrics.MAIL_QUEUED.labels(kind).inc()


async def relay(raw: bytes, mail_from: str, rcpt_to: Sequence[str], s: BillingSettings) -> None:
    """Hand a rendered mail to the SMTP server; RelayUnavailable when it does not take it."""
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    try:
        await aiosmtplib.send(
            raw, sender=mail_from, recipients=list(rcpt_to), hostname=s.smtp_host,
            port=s.smtp_port, username=s.smtp_username or None, password=password,
            start_tls=s.smtp_starttls, timeout=s.smtp_timeout_seconds,
        )  # fmt: skip
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        raise RelayUnavailable(f"the SMTP server did not take the mail: {exc}") from exc
