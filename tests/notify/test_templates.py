"""The mail templates: every language shows every note field, and HTML shows, never runs, input."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time
from uuid import UUID

import pytest

from libs.events import OfficeHours
from libs.events.values import Language
from services.notify.compose import TEMPLATES, Composer
from services.notify.domain.model import Call, Channel, Client, Mode, Note, Voicemail
from services.notify.domain.plan import (
    Alert,
    Notification,
    daily_digest,
    notification_id,
    per_call_mail,
    voicemail_summary,
)

LANGUAGES: tuple[Language, ...] = ("nl", "en", "de", "fr")
CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
RECEIVED = datetime(2026, 3, 10, 13, 7, tzinfo=UTC)  # 14:07 in Amsterdam
NOTE = Note(
    caller_name="Piet <b>Jansen</b>",
    caller_company="Jansen & Zonen",
    caller_number="+31687654321",
    message='Lekkage in de kelder\n<script>alert("x")</script>',
    follow_up="call_back",
    follow_up_detail="before 16:00",
    actions_taken="Checked the agenda",
    information_given="Price list sent",
    recorded_at=RECEIVED,
)
FOLLOW_UP = {"nl": "Graag terugbellen", "en": "Please call back", "de": "Bitte zurückrufen",
             "fr": "Merci de rappeler"}  # fmt: skip
SUBJECT_WORD = {"nl": "Bericht", "en": "Message", "de": "Nachricht", "fr": "Message"}


def client(language: Language, mode: Mode = "per_call") -> Client:
    """A client writing in `language`."""
    recipients = ("jan@bakker.nl",)
    return Client(
        CLIENT,
        "Bakker <Installatie>",
        language,
        mode,
        recipients,
        time(17, 15),
        OfficeHours(),
        registered_at=RECEIVED,
    )


def noted_call(messages: int = 1) -> Call:
    """A call with the note above."""
    return Call(UUID(int=1), CLIENT, RECEIVED, True, "+31612345678", note=NOTE, messages=messages)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_per_call_mail_shows_every_note_field_in_the_language(language: Language) -> None:
    mail = Composer().render(per_call_mail(client(language), noted_call()))
    assert SUBJECT_WORD[language] in mail.subject
    assert "\n" not in mail.subject
    fields = ["Piet <b>Jansen</b>", "Jansen & Zonen", "+31687654321", "Lekkage in de kelder"]
    fields += [FOLLOW_UP[language], "before 16:00", "Checked the agenda", "Price list sent"]
    for text in fields:
        assert text in mail.text
    assert "14:07" in mail.text  # the time of the call on the Amsterdam clock
    assert "10" in mail.text
    assert "2026" in mail.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_html_mail_escapes_what_callers_and_operators_typed(language: Language) -> None:
    mail = Composer().render(per_call_mail(client(language), noted_call()))
    assert mail.html is not None
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert "Piet &lt;b&gt;Jansen&lt;/b&gt;" in mail.html
    assert "Jansen &amp; Zonen" in mail.html
    for text in ("+31687654321", "Lekkage in de kelder", FOLLOW_UP[language], "before 16:00",
                 "Checked the agenda", "Price list sent", "14:07"):  # fmt: skip
        assert text in mail.html
    assert f'lang="{language}"' in mail.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_digests_and_voicemail_summaries_render_in_every_language(language: Language) -> None:
    composer = Composer()
    digest = daily_digest(client(language, "daily_digest"), date(2026, 3, 10), [noted_call()])
    assert digest is not None
    rendered = composer.render(digest)
    assert "Lekkage in de kelder" in rendered.text
    assert "(1)" in rendered.subject
    held = Call(UUID(int=2), CLIENT, RECEIVED, False, "+31612345678",
                voicemail=Voicemail("rec-7", 83, "Boiler <leaks>", RECEIVED), messages=1,
                deliver_after=RECEIVED)  # fmt: skip
    summary = voicemail_summary(client(language), [held], RECEIVED)
    assert summary is not None
    rendered = composer.render(summary)
    assert "1:23" in rendered.text
    assert "Boiler <leaks>" in rendered.text
    assert rendered.html is not None
    assert "Boiler &lt;leaks&gt;" in rendered.html


def test_an_updated_note_says_so() -> None:
    mail = Composer().render(per_call_mail(client("en"), noted_call(messages=2)))
    assert mail.subject.startswith("Updated message")


@pytest.mark.parametrize("channel", ["sms", "chat", "email"])
def test_an_escalation_names_the_reason_and_the_ack_link(channel: Channel) -> None:
    alert = Alert(UUID(int=9), 2, "leak", "Water <everywhere>", RECEIVED, "https://ack.example/9")
    n = Notification(
        notification_id=notification_id("x"), dedupe_key="x", client_id=CLIENT,
        kind="escalation", channel=channel, recipients=("+31611111111",), language="fr",
        client_name="Bakker", calls=(noted_call(),), alert=alert,
    )  # fmt: skip
    rendered = Composer().render(n)
    assert "Water <everywhere>" in rendered.text
    assert "https://ack.example/9" in rendered.text
    assert rendered.subject.startswith("URGENT")
    assert (rendered.html is None) == (channel != "email")
    if channel == "sms":
        assert len(rendered.text) < 400


def test_every_language_has_every_label() -> None:
    files = [json.loads((TEMPLATES / "i18n" / f"{lang}.json").read_text()) for lang in LANGUAGES]
    dutch = files[0]
    assert all(set(labels) == set(dutch) for labels in files)
    assert all(set(labels["follow_ups"]) == set(dutch["follow_ups"]) for labels in files)


def test_a_subject_stays_on_one_line_whatever_the_caller_is_called() -> None:
    sneaky = Note(**{**NOTE.__dict__, "caller_name": "Eve\r\nBcc: victim@example.com" + "x" * 300})
    call = Call(UUID(int=3), CLIENT, RECEIVED, True, None, note=sneaky, messages=1)
    subject = Composer().render(per_call_mail(client("nl"), call)).subject
    assert "\n" not in subject
    assert "\r" not in subject
    assert len(subject) <= 200


# Free text cannot forge the mail's own lines -------------------------------------------------

HOSTILE = Note(
    caller_name="Eve\r\nBcc: x@y",
    caller_company="Evil Corp\nIBAN: NL00 FAKE 0000 0000",
    caller_number="+31687654321",
    message="Terugbellen\nBetaal nu: NL00 FAKE 0000 0000\nFrom: bank",
    follow_up="call_back",
    follow_up_detail="today\rStatus: paid",
    actions_taken="None\u2028From: the bank",
    information_given="Prices\x1b[2J\x00\r\nBetaal nu: NL00 FAKE",
    recorded_at=RECEIVED,
)
FORGED = ("Bcc:", "Betaal nu:", "From:", "IBAN:", "Status:")
"""How the hostile input's lines begin; none of the mails' own labels begins so."""
CONTROLS = ("\r", "\x1b", "\x00", "\u2028", "\x0b")


def forged(text: str) -> list[str]:
    """The lines of a text that the input made up, and control characters that got through."""
    made_up = [line for line in text.splitlines() if line.startswith(FORGED)]
    return made_up + [repr(c) for c in CONTROLS if c in text]


def hostile_call() -> Call:
    """A call whose note and voicemail try to add lines of their own."""
    voicemail = Voicemail("rec-9", 61, "Call me\nBcc: a@b", RECEIVED)
    return Call(UUID(int=4), CLIENT, RECEIVED, True, "+31612345678", note=HOSTILE,
                voicemail=voicemail, messages=1)  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_what_a_caller_typed_cannot_start_a_line_or_a_header_of_its_own(
    language: Language,
) -> None:
    hostile_client = replace(client(language), name="Bakker\r\nBcc: boss@example.com")
    mail = Composer().render(per_call_mail(hostile_client, hostile_call()))
    assert forged(mail.text) == [], mail.text
    assert [c for c in ("\n", *CONTROLS) if c in mail.subject] == [], mail.subject
    assert "Eve Bcc: x@y" in mail.subject
    for kept in ("Betaal nu: NL00 FAKE 0000 0000", "From: bank", "Eve Bcc: x@y", "Status: paid"):
        assert kept in mail.text, "shown, only not as a line of the mail's own"
    assert mail.html is not None
    assert [c for c in CONTROLS if c in mail.html] == []
    assert "Eve Bcc: x@y" in mail.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", ["sms", "chat", "email"])
def test_an_escalation_message_cannot_be_forged_by_its_reason_or_names(
    language: Language, channel: Channel
) -> None:
    alert = Alert(UUID(int=9), 2, "leak\r\nBcc: x@y", "Water\nBetaal nu: NL00 FAKE",
                  RECEIVED, "https://ack.example/9")  # fmt: skip
    n = Notification(
        notification_id=notification_id("h"), dedupe_key="h", client_id=CLIENT,
        kind="escalation", channel=channel, recipients=("+31611111111",), language=language,
        client_name="Bakker\nFrom: bank", calls=(hostile_call(),), alert=alert,
    )  # fmt: skip
    rendered = Composer().render(n)
    assert forged(rendered.text) == [], rendered.text
    assert [c for c in ("\n", *CONTROLS) if c in rendered.subject] == [], rendered.subject
    assert "Betaal nu: NL00 FAKE" in rendered.text
