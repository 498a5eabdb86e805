"""The message of an overdue mail's escalation attempt: from whom, about what, when it came, when
the answer was due and the ack link, in the client's language, by SMS, chat and e-mail (pure),
and queued from routing's EscalationDispatched with what notify keeps of the conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest

from libs.events import EscalationDispatched, NotificationPreferences, OfficeHours
from libs.events.inbox import MailReceived
from libs.events.intake import Channel
from libs.events.values import Language
from services.notify.compose import Composer
from services.notify.domain.mail import Conversation
from services.notify.domain.model import Client
from services.notify.domain.plan import Notification, escalation
from tests.notify.service_layer import Service, fake_transports, rolled_back_service
from tests.support.builders import registered

CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CONVERSATION = UUID("01890a5d-ac96-774b-bcce-b302099a8081")
ESCALATION = UUID("01890a5d-ac96-774b-bcce-b302099a8082")
RECEIVED = datetime(2026, 3, 10, 13, 7, tzinfo=UTC)  # 14:07 in Amsterdam
DUE = RECEIVED + timedelta(hours=4)  # 18:07 in Amsterdam
ACK_URL = "https://routing.frontdesk.example/escalations/x/ack?token=1.abc"
TARGETS: dict[str, str] = {
    "email": "c0@bakker.nl",
    "sms": "+31610000000",
    "chat": "https://hooks.example.com/bakker",
}
MAIL = Conversation(
    CONVERSATION, CLIENT, topic="Lekkage", sender="piet@example.com", sender_name="Piet Jansen",
    subject="Lekkage in de kelder", received_at=RECEIVED, due_at=DUE,
)  # fmt: skip
EXPECTED: dict[Language, dict[str, str]] = {
    "nl": {
        "subject": "DRINGEND: e-mail onbeantwoord – Bakker",
        "intro": "Een e-mail aan Bakker is niet op tijd beantwoord.",
        "from": "Van: Piet Jansen <piet@example.com>",
        "about": "Onderwerp: Lekkage in de kelder",
        "came": "Ontvangen: 10-03-2026 14:07",
        "due": "Antwoord uiterlijk: 10-03-2026 18:07",
        "due_short": "Antwoord uiterlijk 10-03-2026 18:07",
        "ack": "Graag bevestigen vóór 10-03-2026 18:18.",
    },
    "en": {
        "subject": "URGENT: mail unanswered – Bakker",
        "intro": "A mail to Bakker has not been answered in time.",
        "from": "From: Piet Jansen <piet@example.com>",
        "about": "Subject: Lekkage in de kelder",
        "came": "Received: 2026-03-10 14:07",
        "due": "Answer due: 2026-03-10 18:07",
        "due_short": "Answer due 2026-03-10 18:07",
        "ack": "Please acknowledge before 2026-03-10 18:18.",
    },
    "de": {
        "subject": "DRINGEND: E-Mail unbeantwortet – Bakker",
        "intro": "Eine E-Mail an Bakker wurde nicht rechtzeitig beantwortet.",
        "from": "Von: Piet Jansen <piet@example.com>",
        "about": "Betreff: Lekkage in de kelder",
        "came": "Eingegangen: 10.03.2026 14:07",
        "due": "Antwort fällig: 10.03.2026 18:07",
        "due_short": "Antwort fällig 10.03.2026 18:07",
        "ack": "Bitte bestätigen Sie bis 10.03.2026 18:18.",
    },
    "fr": {
        "subject": "URGENT : courriel sans réponse – Bakker",
        "intro": "Un courriel adressé à Bakker n'a pas reçu de réponse à temps.",
        "from": "De: Piet Jansen <piet@example.com>",
        "about": "Objet: Lekkage in de kelder",
        "came": "Reçu: 10/03/2026 14:07",
        "due": "Réponse attendue: 10/03/2026 18:07",
        "due_short": "Réponse attendue 10/03/2026 18:07",
        "ack": "Merci de confirmer avant 10/03/2026 18:18.",
    },
}


def client(language: Language) -> Client:
    """A client writing in `language`, in Amsterdam."""
    return Client(
        CLIENT, "Bakker", language, "per_call", ("jan@bakker.nl",), time(17, 15), OfficeHours(),
        registered_at=RECEIVED,
    )  # fmt: skip


def dispatched(channel: Channel, client_id: UUID = CLIENT) -> EscalationDispatched:
    """Routing's first attempt of the overdue mail's chain, a minute after its due time."""
    return EscalationDispatched(
        client_id=client_id, occurred_at=DUE + timedelta(minutes=1),
        conversation_id=CONVERSATION, escalation_id=ESCALATION, attempt=1, contact_index=0,
        channel=channel, target=TARGETS[channel], ack_due_at=DUE + timedelta(minutes=11),
        ack_url=ACK_URL,
    )  # fmt: skip


def alert(language: Language, channel: Channel, mail: Conversation | None = MAIL) -> Notification:
    """The notification of the attempt."""
    n = escalation(dispatched(channel), client(language), None, None, ACK_URL, mail)
    assert n is not None
    return n


@pytest.mark.parametrize("language", list(EXPECTED))
def test_the_mail_says_from_whom_about_what_when_it_came_and_was_due(language: Language) -> None:
    rendered = Composer().render(alert(language, "email"))
    want = EXPECTED[language]
    assert rendered.subject == want["subject"]
    for part in ("intro", "from", "about", "came", "due", "ack"):
        assert want[part] in rendered.text, (part, rendered.text)
    assert ACK_URL in rendered.text
    html = rendered.html
    assert html is not None
    assert f'<a href="{ACK_URL}">' in html
    assert "Piet Jansen &lt;piet@example.com&gt;" in html
    assert want["intro"].replace("'", "&#39;") in html


@pytest.mark.parametrize("language", list(EXPECTED))
def test_the_sms_is_short_and_names_sender_subject_due_time_and_link(language: Language) -> None:
    rendered = Composer().render(alert(language, "sms"))
    want = EXPECTED[language]
    assert rendered.html is None
    assert rendered.text.splitlines()[0] == want["subject"]
    line = f"Piet Jansen <piet@example.com>: Lekkage in de kelder ({want['due_short']})"
    assert line in rendered.text
    assert f"{want['ack']} {ACK_URL}" in rendered.text
    assert len(rendered.text) < 400


@pytest.mark.parametrize("language", list(EXPECTED))
def test_the_chat_message_is_the_plain_text_of_the_mail(language: Language) -> None:
    rendered = Composer().render(alert(language, "chat"))
    assert rendered.html is None
    assert rendered.text == Composer().render(alert(language, "email")).text
    assert (alert(language, "chat").recipients, alert(language, "chat").call_ids) == (
        (TARGETS["chat"],),
        (),
    )


def test_a_mail_notify_has_not_heard_of_yet_is_still_announced() -> None:
    rendered = Composer().render(alert("en", "email", mail=None))
    assert "From: -" in rendered.text
    assert "Answer due: -" in rendered.text
    assert ACK_URL in rendered.text


def test_what_the_sender_typed_cannot_forge_lines_or_headers() -> None:
    hostile = Conversation(
        CONVERSATION, CLIENT, sender="x@example.com", sender_name="Bank\nTo: all",
        subject="Pay\r\nBcc: y@example.com <b>now</b>", received_at=RECEIVED, due_at=DUE,
    )  # fmt: skip
    rendered = Composer().render(alert("en", "email", mail=hostile))
    assert "\nTo: all" not in rendered.text
    assert "\nBcc:" not in rendered.text
    assert "Subject: Pay Bcc: y@example.com <b>now</b>" in rendered.text
    assert rendered.html is not None
    assert "<b>now</b>" not in rendered.html


def test_a_transfer_attempt_is_no_message() -> None:
    transfer = dispatched("sms").model_copy(update={"channel": "transfer"})
    assert escalation(transfer, client("nl"), None, None, ACK_URL, MAIL) is None


# the service layer: routing's attempt, with what the inbox subscription kept

NOW = DUE + timedelta(minutes=2)


@pytest.fixture
async def svc(database_url: str) -> AsyncIterator[Service]:
    """Notify's tables in a fresh schema inside a transaction that is rolled back after."""
    async with rolled_back_service(database_url, fake_transports(), NOW) as service:
        yield service


@pytest.mark.infra
async def test_an_attempt_about_a_mail_is_queued_with_the_conversation(svc: Service) -> None:
    prefs = NotificationPreferences(mode="daily_digest", recipients=("jan@bakker.nl",))
    signed_up = registered(at=RECEIVED - timedelta(days=30), language="de", notification=prefs)
    mail = MailReceived(
        client_id=signed_up.client_id, occurred_at=RECEIVED, conversation_id=CONVERSATION,
        mail_id=UUID(int=7), message_id="<m1@example.com>", via="forward",
        sender="piet@example.com", sender_name="Piet Jansen", subject="Lekkage in de kelder",
        received_at=RECEIVED, due_at=DUE,
    )  # fmt: skip
    await svc.react(signed_up, mail, dispatched("email", signed_up.client_id))
    [row] = await svc.outgoing(signed_up.client_id)
    assert (row["kind"], row["channel"], row["recipients"]) == (
        "escalation",
        "email",
        ["c0@bakker.nl"],
    )
    assert row["call_ids"] == []
    for part in ("from", "about", "came", "due"):
        assert EXPECTED["de"][part] in row["body_text"]
    assert row["subject"].startswith("DRINGEND: E-Mail unbeantwortet")
