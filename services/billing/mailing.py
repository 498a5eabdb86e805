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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from uuid import UUID

import aiosmtplib

from libs.events.billing import DocumentKind, InvoiceSent, PaymentReminderSent
from libs.events.envelope import Actor, Event, new_id
from libs.platform.db import Connection
from libs.platform.store import EventStore, StreamAppend
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


@dataclass(frozen=True)
class Printed:
    """An issued invoice or credit note as printed, with its mail rendered (PDF and UBL in)."""

    event: Event
    kind: DocumentKind
    document: InvoiceDocument
    raw: bytes


def documents_among(events: Sequence[Event]) -> list[tuple[Event, UUID, DocumentKind]]:
    """The invoices and credit notes among `events`: each with its id and kind."""
    found: list[tuple[Event, UUID, DocumentKind]] = []
    for event in events:
        document_id = getattr(event, "invoice_id", None) or getattr(event, "credit_note_id", None)
        if event.type in DOCUMENT_KINDS and document_id is not None:
            found.append((event, document_id, DOCUMENT_KINDS[event.type]))
    return found


DOCUMENT_KINDS: dict[str, DocumentKind] = {"InvoiceIssued": "invoice",
                                           "CreditNoteIssued": "credit_note"}  # fmt: skip


def rendered_mail(
    document: InvoiceDocument, kind: DocumentKind, settings: BillingSettings, at: datetime
) -> bytes:
    """A document's mail as sent: its PDF and UBL rendered and attached (CPU-bound work)."""
    assert document.document_id is not None
    pdf_bytes, xml_bytes = printing.files(document, settings)
    mid = message_id(kind, document.document_id, settings)
    return document_mail(document, pdf_bytes, xml_bytes, settings, mid, at).as_bytes()


async def render(
    documents: Sequence[tuple[Event, DocumentKind, InvoiceDocument]], settings: BillingSettings,
    at: datetime,
) -> list[Printed]:  # fmt: skip
    """The documents' mails, rendered off the event loop, all in one go."""
    jobs = [(doc, kind, settings, at) for _, kind, doc in documents]
    raws = await printing.offloaded(rendered_mail, jobs)
    return [Printed(e, k, d, raw) for (e, k, d), raw in zip(documents, raws, strict=True)]


async def announce(
    conn: Connection, store: EventStore, settings: BillingSettings, events: Sequence[Event],
    at: datetime,
) -> list[Event]:  # fmt: skip
    """Record and queue the mail of every invoice and credit note among `events`."""
    documents = [
        (event, kind, await printing.printed(conn, store.schema, settings, document_id, kind, None))
        for event, document_id, kind in documents_among(events)
    ]  # fmt: skip
    return await queue(conn, store, settings, await render(documents, settings, at), at)


async def queue(
    conn: Connection, store: EventStore, settings: BillingSettings, printed: Sequence[Printed],
    at: datetime,
) -> list[Event]:  # fmt: skip
    """Record and queue the mails of documents just issued, in the transaction that issued
    them: an InvoiceSent appended for each, the mail's exact bytes in `outgoing`."""
    records = [_sent(item, settings, at) for item in printed]
    await store.append_many(
        [StreamAppend(stream_of(record.document_id), None, [record]) for record in records],
        conn=conn,
    )
    await record_own(conn, store.schema, records)
    await _queue_rows(conn, store.schema, settings, [
        (record, record.document_id, item.raw, item.kind)
        for record, item in zip(records, printed, strict=True)
    ])  # fmt: skip
    return list(records)


def _sent(item: Printed, settings: BillingSettings, at: datetime) -> InvoiceSent:
    doc, event = item.document, item.event
    assert doc.document_id is not None
    return InvoiceSent(
        client_id=event.client_id, actor=event.actor, document_id=doc.document_id,
        document_kind=item.kind, document_number=doc.number,
        message_id=message_id(item.kind, doc.document_id, settings),
        recipients=(doc.client_email,), language=doc.language, occurred_at=at,
        correlation_id=event.correlation_id, causation_id=event.event_id,  # event.caused()
    )  # fmt: skip


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
    record: PaymentReminderSent, mail: EmailMessage, kind: str,
) -> None:  # fmt: skip
    await store.append(stream_of(record.invoice_id), None, [record], conn=conn)
    await record_own(conn, store.schema, [record])
    await _queue_rows(conn, store.schema, settings,
                      [(record, record.invoice_id, mail.as_bytes(), kind)])  # fmt: skip


async def _queue_rows(
    conn: Connection, schema: str, settings: BillingSettings,
    mails: Sequence[tuple[InvoiceSent | PaymentReminderSent, UUID, bytes, str]],
) -> None:  # fmt: skip
    """Mails in `outgoing`, exact bytes and all, for the sender worker (one batch)."""
    await conn.executemany(
        f"INSERT INTO {schema}.outgoing (outgoing_id, client_id, document_id, kind, "
        "message_id, raw, mail_from, rcpt_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(new_id(), record.client_id, document_id, kind, record.message_id, raw,
          parseaddr(settings.sender)[1], list(record.recipients))
         for record, document_id, raw, kind in mails],
    )  # fmt: skip
    for *_, kind in mails:
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
