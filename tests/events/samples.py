"""One realistic instance of every event type, for round-trip and schema tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from libs.events import (
    Actor,
    ApiKeyIssued,
    ApiKeyRevoked,
    CallAnswered,
    CallBillabilityRestored,
    CallEnded,
    CallMarkedNonBillable,
    CallReceived,
    CallRouted,
    CallTransferred,
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    Closure,
    CreditNoteIssued,
    DocumentLine,
    EmailHandling,
    EscalationAcknowledged,
    EscalationContact,
    EscalationDispatched,
    EscalationExhausted,
    EscalationRequested,
    Event,
    FaqEntry,
    FixedMonthlyPlan,
    InvoiceIssued,
    LogPosition,
    NoteRecorded,
    NotificationFailed,
    NotificationPreferences,
    NotificationPreferencesChanged,
    NotificationSent,
    NumberAssigned,
    NumberReleased,
    OfficeHours,
    OfficeHoursChanged,
    OpeningSpan,
    PaymentRecorded,
    PerCallPlan,
    PlanChanged,
    PunchCardLow,
    PunchCardPlan,
    PunchCardToppedUp,
    SecretaryBookRevised,
    TemporaryInstruction,
    UrgencyRule,
    VoicemailRecorded,
    WeeklySchedule,
    inbox,
    notify,
)
from libs.events import calendar as cal
from libs.events.billing import InvoiceSent, PaymentReminderSent
from libs.events.calls import MailEvidence
from libs.events.intake import (
    POOL_ID,
    BillingDetailsChanged,
    BookChangeRequested,
    BookHandedOver,
    EnquiryRecorded,
    IntakeFormReceived,
    NumberAddedToPool,
    OffboardingCancelled,
    OffboardingScheduled,
    QuoteIssued,
    TelephonyConfigured,
    TermsAccepted,
)
from libs.events.routing import (
    OperatorDetailsChanged,
    OperatorPresenceChanged,
    OperatorRegistered,
)

CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8058")
ESCALATION = UUID("01890a5d-ac96-774b-bcce-b302099a8059")
INVOICE = UUID("01890a5d-ac96-774b-bcce-b302099a805a")
AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
OPERATOR = Actor(kind="operator", id="op-anna")


def envelope(**overrides: Any) -> dict[str, Any]:
    """Common envelope fields for a sample event."""
    return {"client_id": CLIENT, "occurred_at": AT, **overrides}


def _line(**overrides: Any) -> DocumentLine:
    fields: dict[str, Any] = {
        "kind": "calls",
        "description": "Handled calls December 2025",
        "period": "2025-12",
        "quantity": 3,
        "unit_price_cents": 200,
        "amount_cents": 600,
        "call_ids": (CALL,),
        "event_ids": (CALL, ESCALATION),
    }
    return DocumentLine(**{**fields, **overrides})


def intake_samples() -> list[Event]:
    """A sample of each intake event."""
    preferences = NotificationPreferences(recipients=("office@bakker.nl",))
    hours = OfficeHours(
        weekly=WeeklySchedule(
            fri=(OpeningSpan(opens=time(8), closes=time(12)),),
            sat=(OpeningSpan(opens=time(9, 30), closes=time(13)),),
        ),
        closures=(Closure(starts_at=AT, ends_at=AT + timedelta(days=2), reason="Carnaval"),),
    )
    book = SecretaryBookRevised(
        **envelope(actor=Actor(kind="staff", id="gonny")),
        book_version=2,
        greeting="Goedemorgen, Installatiebedrijf Bakker, u spreekt met ...",
        instructions="Afspraken alleen op dinsdag.",
        faq=(FaqEntry(question="Doen jullie ook zonnepanelen?", answer="Ja, vanaf 2026."),),
        urgency_rules=(
            UrgencyRule(kind="leak", description="Water leak", channels=("transfer", "sms")),
        ),
        escalation_contacts=(
            EscalationContact(name="Piet", phone="+31612345678"),
            EscalationContact(name="Team", chat_webhook_url="https://hooks.slack.com/x"),
        ),
        temporary_instructions=(
            TemporaryInstruction(text="On holiday", valid_from=AT, valid_until=AT + timedelta(7)),
        ),
        after_hours="call_back",
    )
    return [
        ClientRegistered(
            **envelope(actor=Actor(kind="client")),
            name="Installatiebedrijf Bakker B.V.",
            contact_email="jan@bakker.nl",
            language="nl",
            plan=FixedMonthlyPlan(monthly_amount_cents=5000, included_calls=30),
            email_handling=EmailHandling(enabled=True, monthly_fee_cents=2500),
            notification=preferences,
            office_hours=hours,
        ),
        ClientActivated(**envelope()),
        NumberAssigned(**envelope(), number="+31851234567"),
        NumberReleased(**envelope(), number="+31851234567"),
        NumberReleased(
            **envelope(), number="+31851234567", quarantine_until=AT + timedelta(days=90)
        ),
        NumberAddedToPool(**{**envelope(), "client_id": POOL_ID}, number="+31851234599"),
        EnquiryRecorded(
            **envelope(), contact_name="Jan Bakker", phone="+31612345678", wishes="Calls at lunch"
        ),
        QuoteIssued(
            **envelope(),
            plan=PunchCardPlan(low_balance_threshold_cents=2000),
            email_handling=EmailHandling(enabled=True, monthly_fee_cents=2500),
            call_rate_cents=100,
            setup_fee_cents=4500,
            valid_until=date(2026, 2, 1),
        ),
        IntakeFormReceived(**envelope(), book_version=1),
        TermsAccepted(
            **envelope(), terms_version="2026-01", accepted_by="Jan Bakker", accepted_at=AT
        ),
        TelephonyConfigured(
            **envelope(),
            number="+31851234567",
            method="twilio",
            voice_url="https://frontdesk.example/telephony/voice",
        ),
        OffboardingScheduled(**envelope(), effective_at=AT + timedelta(days=3), reason="Payroll"),
        OffboardingCancelled(
            **envelope(), was_effective_at=AT + timedelta(days=3), reason="Stays after all"
        ),
        BookHandedOver(**envelope(), format="pdf", versions=3, latest_version=3),
        BookChangeRequested(
            **envelope(),
            request_id=UUID(int=77),
            book_version=3,
            text="Noem voortaan ook het nieuwe filiaal in Breda",
        ),
        BillingDetailsChanged(
            **envelope(),
            legal_name="Installatiebedrijf Bakker B.V.",
            address_lines=("Dorpsstraat 12",),
            postcode="5211 AB",
            city="'s-Hertogenbosch",
            vat_number="NL123456789B01",
            kvk_number="12345678",
        ),
        book,
        PlanChanged(
            **envelope(),
            plan=PunchCardPlan(low_balance_threshold_cents=2000),
            email_handling=EmailHandling(),
            effective_from=date(2026, 1, 1),
        ),
        NotificationPreferencesChanged(
            **envelope(),
            notification=NotificationPreferences(mode="per_call", recipients=("a@b.nl", "c@d.de")),
        ),
        OfficeHoursChanged(**envelope(), office_hours=OfficeHours(public_holidays=None)),
        ClientOffboarded(**envelope(), reason="Hired a secretary"),
        ApiKeyIssued(
            **envelope(actor=Actor(kind="staff", id="staff-1")),
            key_id=UUID("5b0e7c1e-2f0c-4d7e-9a51-0c1d2e3f4a5b"),
            name="CRM koppeling",
            role="client",
            secret_sha256="0" * 64,
        ),
        ApiKeyRevoked(**envelope(), key_id=UUID("5b0e7c1e-2f0c-4d7e-9a51-0c1d2e3f4a5b")),
    ]


def call_samples() -> list[Event]:
    """A sample of each calls event."""
    call = envelope(call_id=CALL, actor=OPERATOR)
    return [
        CallReceived(
            **envelope(call_id=CALL, actor=Actor(kind="telephony")),
            dialled_number="+31851234567",
            caller_number=None,
            received_at=AT,
            book_version=2,
            office_open=True,
        ),
        CallReceived(
            **envelope(call_id=CALL, actor=Actor(kind="staff")),
            dialled_number="+31851234567",
            caller_number="+31612345678",
            received_at=AT - timedelta(days=30),
            book_version=2,
            office_open=False,
            imported=True,
        ),
        CallAnswered(**call, operator_id="op-anna", language="de"),
        NoteRecorded(
            **call,
            operator_id="op-anna",
            book_version=None,
            caller_name="Frau Müller",
            caller_company="Müller GmbH",
            caller_number="+4930123456",
            message="Möchte ein Angebot für eine Wärmepumpe.",
            follow_up="call_back",
            follow_up_detail="tomorrow morning",
            actions_taken="Put her on the call-back list in the calendar",
            information_given="Prices from the FAQ",
        ),
        EscalationRequested(
            **call, escalation_id=ESCALATION, urgency_kind="leak", reason="Basement floods"
        ),
        CallTransferred(**call, to_number="+31612345678", escalation_id=ESCALATION),
        VoicemailRecorded(**call, recording_ref="vm/2026/01/05/abc.wav", duration_seconds=42),
        CallEnded(**call, ended_at=AT + timedelta(minutes=4)),
        CallMarkedNonBillable(**call, reason="wrong_number", comment="Wanted the bakery"),
        CallBillabilityRestored(**call, comment="It was a customer after all"),
        CallMarkedNonBillable(
            **call,
            reason="caller_follows_up_themselves",
            evidence=MailEvidence(
                conversation_id=UUID(int=81),
                message_id="abc-1@example.nl",
                sender="piet@example.nl",
                subject="Offerte badkamer",
                received_at=AT + timedelta(hours=2),
            ),
        ),
    ]


def inbox_samples() -> list[Event]:
    """A sample of each inbox event."""
    talk = envelope(conversation_id=UUID(int=81))
    return [
        inbox.MailboxConfigured(
            **envelope(),
            forwarding_address="bakker-7f3a@in.frontdesk.example",
            client_address="info@bakker.nl",
            client_name="Installatiebedrijf Bakker",
            answer_within_minutes=240,
            send_as="on_behalf",
        ),
        inbox.ConversationOpened(**talk, topic="Offerte badkamer", language="nl"),
        inbox.MailReceived(
            **talk,
            mail_id=UUID(int=82),
            message_id="abc-1@example.nl",
            via="forward",
            sender="piet@example.nl",
            sender_name="Piet Jansen",
            subject="Offerte badkamer",
            text="Kunt u mij terugbellen?",
            attachments=(
                inbox.AttachmentRef(
                    filename="foto.jpg", content_type="image/jpeg", size=1200, sha256="a" * 64
                ),
            ),
            received_at=AT,
            due_at=AT + timedelta(hours=4),
        ),
        inbox.ConversationAssigned(**talk, operator_id="op-anna"),
        inbox.ReplySent(
            **talk,
            message_id="r1@frontdesk.example",
            in_reply_to="abc-1@example.nl",
            to="piet@example.nl",
            subject="Re: Offerte badkamer",
            text="Wij bellen u morgen.",
        ),
        inbox.ConversationForwarded(**talk, to="info@bakker.nl", message_id="f1@frontdesk.example"),
        inbox.ConversationHandled(**talk),
        inbox.ConversationMarkedSpam(**talk),
        inbox.ConversationEscalated(**talk, due_at=AT),
        inbox.AnswerUndeliverable(
            **talk, message_id="r1@frontdesk.example", kind="reply", reason="550 mailbox unknown"
        ),
        inbox.AnnouncedMailFound(
            **envelope(),
            call_id=CALL,
            conversation_id=UUID(int=81),
            mail_id=UUID(int=82),
            message_id="abc-1@example.nl",
            sender="piet@example.nl",
            subject="Offerte badkamer",
            received_at=AT + timedelta(hours=2),
            matched_by="number",
        ),
    ]


def calendar_samples() -> list[Event]:
    """A sample of each calendar event."""
    block = cal.CallbackBlock(days=("mon", "fri"), start=time(16), end=time(17))
    appointment = envelope(appointment_id=UUID(int=71), call_id=CALL)
    callback = envelope(callback_id=UUID(int=72), call_id=CALL)
    hour = timedelta(hours=1)
    return [
        cal.CalendarLinked(
            **envelope(),
            provider="caldav",
            calendar="https://cal.example.com/dav/praktijk/agenda/",
            account="praktijk",
            permission="write",
            show_titles=True,
            callback_block=block,
        ),
        cal.CalendarPermissionChanged(**envelope(), permission="read", show_titles=False),
        cal.CalendarUnlinked(**envelope()),
        cal.CalendarObserved(
            **envelope(),
            read_at=AT,
            window_start=AT,
            window_end=AT + timedelta(days=1),
            busy=(cal.BusySpan(start=AT, end=AT + hour, title="Spreekuur"),),
        ),
        cal.CalendarUnreachable(**envelope(), since=AT, error="connection refused"),
        cal.AppointmentBooked(
            **appointment,
            uid="00000000-0000-0000-0000-000000000047@frontdesk",
            start=AT + hour,
            end=AT + 2 * hour,
            title="Intake Jansen",
            location="Praktijk",
            attendee_name="J. Jansen",
            attendee_phone="+31612345678",
        ),
        cal.AppointmentMoved(**appointment, start=AT + 2 * hour, end=AT + 3 * hour),
        cal.AppointmentCancelled(**appointment, reason="caller cancelled"),
        cal.AppointmentProposed(
            **appointment,
            title="Intake Jansen",
            times=(cal.ProposedTime(start=AT + hour, end=AT + 2 * hour),),
        ),
        cal.CallbackScheduled(
            **callback,
            source="voicemail",
            language="nl",
            caller_number="+31612345678",
            due_at=AT + timedelta(days=3),
        ),
        cal.CallbackAssigned(**callback, operator_id="op-anna"),
        cal.CallbackDone(**callback, operator_id="op-anna"),
        cal.CallbackFailed(**callback, reason="no_answer"),
        cal.CallbackEscalated(**callback, overdue_since=AT, open_minutes=45),
    ]


def routing_samples() -> list[Event]:
    """A sample of each routing event."""
    esc = envelope(call_id=CALL, escalation_id=ESCALATION)
    mail_esc = envelope(conversation_id=UUID(int=81), escalation_id=UUID(int=82))
    return [
        CallRouted(
            **envelope(call_id=CALL), destination="voicemail", language="nl", office_open=False
        ),
        EscalationDispatched(
            **esc,
            attempt=1,
            contact_index=0,
            channel="sms",
            target="+31612345678",
            ack_due_at=AT + timedelta(minutes=10),
        ),
        EscalationAcknowledged(**esc, by="Piet", contact_index=0),
        EscalationExhausted(**esc, attempts=4),
        EscalationDispatched(
            **mail_esc,
            attempt=1,
            contact_index=0,
            channel="email",
            target="piet@bakker.nl",
            ack_due_at=AT + timedelta(minutes=10),
        ),
        EscalationAcknowledged(**mail_esc, by="desk"),
        EscalationExhausted(**mail_esc, attempts=2),
        OperatorRegistered(
            occurred_at=AT, operator_id="op-anna", name="Anna", languages=("en", "nl")
        ),
        OperatorDetailsChanged(
            occurred_at=AT, operator_id="op-anna", name="Anna de Vries", languages=("nl",)
        ),
        OperatorPresenceChanged(
            occurred_at=AT,
            operator_id="op-anna",
            presence="busy",
            previous="available",
            call_id=CALL,
        ),
    ]


def notify_samples() -> list[Event]:
    """A sample of each notify event."""
    common = envelope(
        notification_id=ESCALATION,
        channel="email",
        kind="daily_digest",
        recipients=("office@bakker.nl",),
        dedupe_key=f"digest:{CLIENT}:2026-01-05",
        call_ids=(CALL,),
    )
    chat = common | {
        "channel": "chat",
        "kind": "escalation",
        "recipients": ("https://hooks.example.com/services/bakker",),
        "dedupe_key": f"escalation:{ESCALATION}:1:0:chat",
        "call_ids": (),
    }
    return [
        NotificationSent(**common, message_id="<1@frontdesk>"),
        NotificationFailed(**common, error="550 mailbox unavailable", permanent=True),
        NotificationSent(**chat, message_id="<2@frontdesk>"),
        NotificationSent(
            **common | {"kind": "welcome", "dedupe_key": f"welcome:{ESCALATION}", "call_ids": ()},
            message_id="<3@frontdesk>",
        ),
        notify.ForwardingCodesSet(
            occurred_at=AT,
            provider="kpn-vast",
            name="KPN vaste lijn",
            forward_all="*21*{number}#",
            stop_all="#21#",
            note="Alleen op toestellen met toonkiezen",
        ),
        notify.ForwardingCodesRemoved(occurred_at=AT, provider="kpn-vast"),
    ]


def billing_samples() -> list[Event]:
    """A sample of each billing event."""
    lines = (_line(), _line(kind="setup_fee", quantity=1, unit_price_cents=4500, amount_cents=4500))
    totals = {"subtotal_cents": 5100, "vat_cents": 1071, "total_cents": 6171}
    position = LogPosition(topic="frontdesk.calls.v1", partition=3, offset=1200)
    return [
        InvoiceIssued(
            **envelope(),
            invoice_id=INVOICE,
            invoice_number="2026-000001",
            purpose="monthly",
            period="2025-12",
            lines=lines,
            **totals,
            computed_from=(position,),
            billing_stream_position=3,
        ),
        CreditNoteIssued(
            **envelope(),
            credit_note_id=CALL,
            credit_note_number="CN-2026-000001",
            original_invoice_id=INVOICE,
            period="2025-12",
            lines=(_line(quantity=1, amount_cents=200),),
            subtotal_cents=200,
            vat_cents=42,
            total_cents=242,
        ),
        PunchCardToppedUp(**envelope(), top_up_id=CALL, amount_cents=10000, balance_cents=9800),
        PunchCardLow(**envelope(), balance_cents=-200, threshold_cents=1000),
        PaymentRecorded(
            **envelope(),
            payment_id=CALL,
            invoice_id=INVOICE,
            amount_cents=6171,
            paid_at=AT,
            reference="NL91ABNA0417164300",
        ),
        InvoiceSent(
            **envelope(),
            document_id=INVOICE,
            document_kind="invoice",
            document_number="2026-000001",
            message_id="<invoice-2026-000001@frontdesk.local>",
            recipients=("boekhouding@bakker.example",),
            language="nl",
        ),
        PaymentReminderSent(
            **envelope(),
            invoice_id=INVOICE,
            invoice_number="2026-000001",
            reminder_number=1,
            due_date=date(2026, 1, 19),
            outstanding_cents=6171,
            message_id="<reminder-1@frontdesk.local>",
            recipients=("boekhouding@bakker.example",),
            language="nl",
        ),
    ]


def all_samples() -> list[Event]:
    """A sample of every event type in the catalogue."""
    return [
        *intake_samples(),
        *call_samples(),
        *routing_samples(),
        *notify_samples(),
        *billing_samples(),
        *calendar_samples(),
        *inbox_samples(),
        ClientRegistered(
            **envelope(),
            name="Minimal",
            contact_email="min@example.com",
            language="en",
            plan=PerCallPlan(),
            notification=NotificationPreferences(recipients=("min@example.com",)),
        ),
    ]
