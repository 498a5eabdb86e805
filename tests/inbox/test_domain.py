"""The inbox's pure domain: a mail parsed from its bytes, threaded, and due in office time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from uuid import UUID

import pytest

from libs.errors import Conflict, Rejected
from services.inbox.domain.conversations import (
    Conversation,
    answered,
    assigned,
    conversation_of,
    due_at,
    finished,
    received_again,
    to_escalate,
    undelivered,
)
from services.inbox.domain.evidence import (
    WINDOW,
    Expected,
    Match,
    address_in,
    matches,
    numbers_in,
)
from services.inbox.domain.language import language_of
from services.inbox.domain.mail import UnreadableMail, clean_html, message_id, parse
from services.inbox.domain.replies import Sender, reply
from tests.support.clock import weekday_hours

EIGHT_TO_FIVE = weekday_hours(8, 17)


def mail(**headers: str) -> EmailMessage:
    """A plain mail from a caller to a client's forwarding address."""
    message = EmailMessage()
    message["From"] = headers.pop("From", "Piet Jansen <piet@example.nl>")
    message["To"] = headers.pop("To", "info-bakker@in.frontdesk.example")
    message["Subject"] = headers.pop("Subject", "Offerte badkamer")
    message["Date"] = "Fri, 11 Dec 2026 16:50:00 +0100"
    message["Message-ID"] = headers.pop("Message_ID", "<abc-1@example.nl>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Kunt u mij terugbellen?\nGroet, Piet\n06-12345678")
    return message


def test_a_mail_is_read_with_its_identity_threading_and_text() -> None:
    found = parse(bytes(mail(In_Reply_To="<x@bakker.nl>", References="<w@b.nl> <x@bakker.nl>")))
    assert found.message_id == "abc-1@example.nl"
    assert found.in_reply_to == "x@bakker.nl"
    assert found.references == ("w@b.nl", "x@bakker.nl")
    assert (found.sender, found.sender_name) == ("piet@example.nl", "Piet Jansen")
    assert found.to == ("info-bakker@in.frontdesk.example",)
    assert found.sent_at == datetime(2026, 12, 11, 15, 50, tzinfo=UTC)
    assert "terugbellen" in found.text
    assert found.html == ""
    assert found.attachments == ()


def test_html_is_cleaned_and_attachments_are_kept_apart() -> None:
    message = mail()
    message.add_alternative(
        '<p onclick="steal()">Hallo<script>alert(1)</script>'
        '<a href="javascript:alert(1)">klik</a><a href="https://bakker.nl">site</a></p>',
        subtype="html",
    )
    message.add_attachment(b"%PDF-1.4 offerte", maintype="application", subtype="pdf",
                           filename="../offerte.pdf")  # fmt: skip
    found = parse(bytes(message))
    assert "script" not in found.html
    assert "onclick" not in found.html
    assert "javascript" not in found.html
    assert 'href="https://bakker.nl"' in found.html
    [attachment] = found.attachments
    assert attachment.filename == ".._offerte.pdf"
    assert (attachment.content_type, attachment.size) == ("application/pdf", 16)
    assert len(attachment.sha256) == 64


def test_a_mail_without_a_message_id_gets_one_from_its_bytes_the_same_each_time() -> None:
    raw = b"From: a@b.nl\r\nSubject: hoi\r\n\r\nbody\r\n"
    assert parse(raw).message_id == parse(raw).message_id == message_id(None, raw)
    assert parse(raw).message_id != parse(raw + b"more").message_id


def test_a_mail_without_a_sender_is_unreadable() -> None:
    with pytest.raises(UnreadableMail):
        parse(b"Subject: nobody\r\n\r\nbody\r\n")


def test_the_topic_drops_reply_and_forward_prefixes_in_four_languages() -> None:
    for subject in ("Re: Offerte", "AW: WG: Offerte", "Antw: Offerte", "TR: Fwd: Offerte"):
        assert parse(bytes(mail(Subject=subject))).topic == "Offerte"


def test_a_reply_joins_the_conversation_of_the_mail_it_answers() -> None:
    first, other = UUID(int=1), UUID(int=2)
    known = {"x@bakker.nl": first, "w@b.nl": other}
    reply = parse(bytes(mail(In_Reply_To="<x@bakker.nl>")))
    assert conversation_of(reply, known) == first
    by_references = parse(bytes(mail(References="<zz@nowhere> <w@b.nl>")))
    assert conversation_of(by_references, known) == other
    assert conversation_of(parse(bytes(mail())), known) is None


def test_a_friday_1650_mail_with_four_working_hours_is_due_monday_1150() -> None:
    friday = datetime(2026, 12, 11, 15, 50, tzinfo=UTC)  # 16:50 in Amsterdam
    due = due_at(EIGHT_TO_FIVE, friday, timedelta(hours=4))
    assert due == datetime(2026, 12, 14, 10, 50, tzinfo=UTC)  # Monday 11:50 in Amsterdam
    with pytest.raises(Rejected):
        due_at(EIGHT_TO_FIVE, friday, timedelta(0))


def test_clean_html_keeps_inline_images_by_content_id() -> None:
    assert 'src="cid:logo"' in clean_html('<img src="cid:logo" onerror="x()">')


# ---------------------------------------------------------------------- replies

SENDER = Sender(
    client_name="Installatiebedrijf Bakker",
    client_address="info@bakker.nl",
    bureau_address="secretariaat@frontdesk.example",
    send_as="on_behalf",
)


def test_a_reply_is_threaded_to_the_mail_it_answers() -> None:
    original = parse(bytes(mail(References="<w@b.nl> <x@bakker.nl>", Subject="Offerte")))
    at = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
    sent = reply(original, "Beste Piet, morgen bellen wij u.", SENDER, at=at, domain="fd.example")
    assert sent["In-Reply-To"] == "<abc-1@example.nl>"
    assert sent["References"] == "<w@b.nl> <x@bakker.nl> <abc-1@example.nl>"
    assert sent["Subject"] == "Re: Offerte"
    assert sent["To"] == "Piet Jansen <piet@example.nl>"
    assert sent["Message-ID"].endswith("@fd.example>")
    assert "morgen bellen" in sent.get_content()
    again = parse(bytes(sent))  # the caller's answer to the reply threads back to it
    assert again.in_reply_to == original.message_id


def test_a_reply_goes_out_as_the_client_or_on_its_behalf() -> None:
    original = parse(bytes(mail(Subject="Re: Offerte")))
    at = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
    behalf = reply(original, "Graag gedaan.", SENDER, at=at, domain="fd.example")
    assert behalf["From"].addresses[0].addr_spec == "secretariaat@frontdesk.example"
    assert behalf["From"].addresses[0].display_name == (
        "Installatiebedrijf Bakker (via het secretariaat)"
    )
    english = reply(original, "You're welcome.", replace(SENDER, language="en"), at=at,
                    domain="fd.example")  # fmt: skip
    assert english["From"].addresses[0].display_name.endswith("(via the answering service)")
    assert behalf["Reply-To"] == "Installatiebedrijf Bakker <info@bakker.nl>"
    assert behalf["Subject"] == "Re: Offerte"  # no second Re:
    own = replace(SENDER, send_as="client")
    direct = reply(original, "Graag gedaan.", own, at=at, domain="fd.example")
    assert direct["From"] == "Installatiebedrijf Bakker <info@bakker.nl>"
    assert direct["Reply-To"] is None
    with pytest.raises(Rejected):
        reply(original, "   ", SENDER, at=at, domain="fd.example")


# ---------------------------------------------------------------------- the announced mail

NOTED = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
CLIENT = UUID(int=9)


def expected(**fields: object) -> Expected:
    values: dict[str, object] = {
        "call_id": UUID(int=1), "client_id": CLIENT, "noted_at": NOTED,
        "caller_number": "+31612345678", "caller_email": None, **fields,
    }  # fmt: skip
    return Expected(**values)  # type: ignore[arg-type]


def test_the_announced_mail_is_found_by_the_number_in_its_signature() -> None:
    found = parse(bytes(mail()))  # signed "06-12345678"
    assert numbers_in(found.text) == {"+31612345678"}
    assert matches(found, CLIENT, NOTED + timedelta(hours=2), [expected()]) == [
        Match(UUID(int=1), "number")
    ]


def test_the_announced_mail_is_found_by_its_sender_address() -> None:
    found = parse(bytes(mail()))
    call = expected(caller_number=None, caller_email="Piet@Example.nl")
    assert matches(found, CLIENT, NOTED, [call]) == [Match(UUID(int=1), "address")]


def test_the_address_an_operator_noted_is_read_from_the_follow_up_detail() -> None:
    assert address_in("mailt vandaag vanaf J.Bakker@Example.nl.") == "j.bakker@example.nl"
    assert address_in("stuurt foto's naar ons (piet@jansen.example)") == "piet@jansen.example"
    assert address_in("mailt vandaag") is None
    assert address_in("adres: piet@localhost of piet@") is None


def test_no_match_outside_the_window_for_another_client_or_another_number() -> None:
    found = parse(bytes(mail()))
    late = NOTED + WINDOW + timedelta(minutes=1)
    assert matches(found, CLIENT, late, [expected()]) == []
    assert matches(found, UUID(int=10), NOTED, [expected()]) == []
    assert matches(found, CLIENT, NOTED, [expected(caller_number="+31687654321")]) == []
    assert matches(found, CLIENT, NOTED - timedelta(minutes=1), [expected()]) == []


# ---------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (
            "Beste meneer, kunt u mij graag terugbellen over de offerte? Met vriendelijke groet",
            "nl",
        ),
        ("Dear sir, could you please call me back about the quote? Kind regards", "en"),
        (
            "Sehr geehrte Damen und Herren, bitte rufen Sie mich zurück. Mit freundlichen Grüßen",
            "de",
        ),
        ("Bonjour, pouvez-vous me rappeler pour le devis ? Merci, cordialement", "fr"),
        ("OK", "nl"),
    ],
)
def test_the_language_of_a_mail(text: str, language: str) -> None:
    assert language_of(text, fallback="nl") == language


# ---------------------------------------------------------------------- a conversation's life

FRIDAY_1650 = datetime(2026, 12, 11, 15, 50, tzinfo=UTC)
FOUR_HOURS = timedelta(hours=4)


def opened() -> Conversation:
    due = due_at(EIGHT_TO_FIVE, FRIDAY_1650, FOUR_HOURS)
    return Conversation(UUID(int=3), CLIENT, "nl", due)


def test_an_unanswered_conversation_escalates_once_when_due() -> None:
    conversation = opened()
    assert not to_escalate(conversation, conversation.due_at - timedelta(seconds=1))
    assert to_escalate(conversation, conversation.due_at)
    escalated = replace(conversation, escalated=True)
    assert not to_escalate(escalated, conversation.due_at + timedelta(hours=1))
    later = received_again(escalated, EIGHT_TO_FIVE, FRIDAY_1650 + timedelta(days=3), FOUR_HOURS)
    assert later.due_at == conversation.due_at  # still the first unanswered mail's due time
    assert later.escalated
    assert later.mails == 2


def test_a_reply_then_a_new_mail_makes_a_new_due_time() -> None:
    replied = answered(assigned(opened(), "op-anna"), "replied")
    assert not to_escalate(replied, replied.due_at + timedelta(days=1))
    monday_noon = datetime(2026, 12, 14, 11, 0, tzinfo=UTC)
    again = received_again(replied, EIGHT_TO_FIVE, monday_noon, FOUR_HOURS)
    assert again.status == "open"
    assert again.due_at == datetime(2026, 12, 14, 15, 0, tzinfo=UTC)


def test_an_answer_that_never_left_is_owed_again_at_once() -> None:
    sent = answered(replace(opened(), escalated=True), "replied")
    later = sent.due_at + timedelta(hours=9)
    owed = undelivered(sent, later)
    assert (owed.status, owed.due_at, owed.escalated) == ("open", later, False)
    assert to_escalate(owed, later)
    done = finished(sent, "handled")
    assert undelivered(done, later) == done


def test_handled_and_spam_are_final_but_spam_stays_spam_when_more_arrives() -> None:
    spam = finished(opened(), "spam")
    with pytest.raises(Conflict):
        answered(spam, "replied")
    with pytest.raises(Conflict):
        assigned(spam, "op-anna")
    assert received_again(spam, EIGHT_TO_FIVE, FRIDAY_1650, FOUR_HOURS).status == "spam"
    handled = finished(opened(), "handled")
    assert received_again(handled, EIGHT_TO_FIVE, FRIDAY_1650, FOUR_HOURS).status == "open"
