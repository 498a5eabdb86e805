"""The welcome mail of an activated client: its number, the codes to forward all calls
(*21*number#) and stop (##21#), forwarding when busy, unanswered or unreachable, the bureau's
codes per provider (a table staff keep), when messages come and what counts as urgent; in nl,
en, de and fr (pure), and queued once per activation from intake's events (service layer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest

from libs.events import ClientActivated, NotificationPreferences, NumberReleased, OfficeHours
from libs.events.values import Language
from libs.platform.auth import Principal
from services.notify import welcome as tables
from services.notify.compose import Composer
from services.notify.domain.model import Client
from services.notify.domain.plan import on_activation
from services.notify.domain.welcome import Codes, Urgency, Variant, dialled
from tests.notify.service_layer import Service, Transport, fake_transports, rolled_back_service
from tests.support.builders import book_revised, leak_rule, number_assigned, registered

AT = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
NUMBER = "+31851234567"
KPN = Variant("kpn-vast", "KPN vaste lijn", Codes("*21*{number}#", "#21#"), "Toonkiezen")
URGENT = (Urgency("leak", "Waterlekkage"),)
EXPECTED: dict[Language, dict[str, str]] = {
    "nl": {"subject": "Welkom bij Frontdesk: uw doorschakelnummer +31 85 123 4567",
           "all": "Alle gesprekken doorschakelen: *21*0851234567#",
           "stop": "Doorschakelen stoppen: ##21#",
           "busy": "Doorschakelen als u in gesprek bent: *67*0851234567#",
           "digest": "U ontvangt elke dag om 17:15 één e-mail"},
    "en": {"subject": "Welcome to Frontdesk: your forwarding number +31 85 123 4567",
           "all": "Forward all calls: *21*0851234567#", "stop": "Stop forwarding: ##21#",
           "busy": "Forward when you are on the phone: *67*0851234567#",
           "digest": "You receive one e-mail every day at 17:15"},
    "de": {"subject": "Willkommen bei Frontdesk: Ihre Weiterleitungsnummer +31 85 123 4567",
           "all": "Alle Anrufe umleiten: *21*0851234567#", "stop": "Umleitung beenden: ##21#",
           "busy": "Umleiten, wenn Sie telefonieren: *67*0851234567#",
           "digest": "Sie erhalten jeden Tag um 17:15 eine E-Mail"},
    "fr": {"subject": "Bienvenue chez Frontdesk : votre numéro de renvoi +31 85 123 4567",
           "all": "Renvoyer tous les appels: *21*0851234567#",
           "stop": "Arrêter le renvoi: ##21#",
           "busy": "Renvoyer quand vous êtes en ligne: *67*0851234567#",
           "digest": "Vous recevez chaque jour à 17:15 un e-mail"},
}  # fmt: skip


def person(language: Language = "nl", mode: str = "daily_digest") -> Client:
    return Client(
        UUID(int=5), "Bakker", language, mode, ("jan@bakker.nl",), time(17, 15),  # type: ignore[arg-type]
        OfficeHours(), registered_at=AT - timedelta(days=3),
    )  # fmt: skip


def test_a_dutch_number_is_dialled_as_it_is_called_from_a_dutch_line() -> None:
    assert dialled("*21*{number}#", "+31851234567") == "*21*0851234567#"
    assert dialled("*21*{number}#", "+3225123456") == "*21*003225123456#"
    assert dialled("##21#", "+31851234567") == "##21#"


@pytest.mark.parametrize("language", list(EXPECTED))
def test_the_welcome_names_the_number_the_codes_the_messages_and_the_urgent(
    language: Language,
) -> None:
    [mail] = on_activation(person(language), UUID(int=9), (NUMBER,), (KPN,), URGENT)
    rendered = Composer().render(mail)
    want = EXPECTED[language]
    assert rendered.subject == want["subject"]
    for part in ("all", "stop", "busy", "digest"):
        assert want[part] in rendered.text, (part, rendered.text)
    assert "*61*0851234567#" in rendered.text
    assert "*62*0851234567#" in rendered.text
    assert "##004#" in rendered.text
    assert "KPN vaste lijn (Toonkiezen)" in rendered.text
    assert "#21#" in rendered.text
    assert "- Waterlekkage" in rendered.text
    assert rendered.html is not None
    assert "*21*0851234567#" in rendered.html
    assert "+31 85 123 4567" in rendered.html


def test_one_welcome_per_activation_and_none_without_a_number_or_recipients() -> None:
    [first] = on_activation(person(), UUID(int=9), (NUMBER,), (), ())
    [again] = on_activation(person(), UUID(int=9), (NUMBER,), (), ())
    assert (first.dedupe_key, first.notification_id) == (again.dedupe_key, again.notification_id)
    assert first.kind == "welcome"
    assert first.call_ids == ()
    assert on_activation(person(), UUID(int=9), (), (), ()) == []
    assert on_activation(None, UUID(int=9), (NUMBER,), (), ()) == []


def test_a_per_call_client_is_told_each_call_comes_by_mail_and_nothing_urgent_is_named() -> None:
    [mail] = on_activation(person("en", "per_call"), UUID(int=9), (NUMBER,), (), ())
    text = Composer().render(mail).text
    assert "You receive an e-mail with the message of every call right away." in text
    assert "Your secretary book names nothing urgent yet." in text
    assert "Codes per provider" not in text


def test_what_staff_typed_cannot_forge_lines() -> None:
    forged = Variant("x", "Evil\nBcc: all", Codes("*21*{number}#", "##21#"), "a\r\nb")
    [mail] = on_activation(person("en"), UUID(int=9), (NUMBER,), (forged,), ())
    text = Composer().render(mail).text
    assert "\nBcc: all" not in text
    assert "Evil Bcc: all (a b)" in text


# service layer


@pytest.fixture
def transports() -> dict[str, Transport]:
    return fake_transports()


@pytest.fixture
async def svc(database_url: str, transports: dict[str, Transport]) -> AsyncIterator[Service]:
    async with rolled_back_service(database_url, transports, AT) as service:
        yield service


STAFF = Principal("staff-1", "Sanne", "staff", None, "token")


@pytest.mark.infra
async def test_activation_queues_one_welcome_with_the_number_book_and_provider_codes(
    svc: Service,
) -> None:
    prefs = NotificationPreferences(mode="daily_digest", recipients=("jan@bakker.nl",))
    signed_up = registered(at=AT - timedelta(days=1), notification=prefs, language="en")
    client_id = signed_up.client_id
    await tables.set_codes(
        svc.store, "kpn-vast",
        {"name": "KPN landline", "forward_all": "*21*{number}#", "stop_all": "#21#"},
        STAFF.actor(), AT,
    )  # fmt: skip
    activated = ClientActivated(client_id=client_id, occurred_at=AT)
    events = [
        signed_up,
        number_assigned(client_id, NUMBER, AT - timedelta(hours=2)),
        book_revised(client_id, 1, AT - timedelta(hours=1), urgency_rules=(leak_rule(),)),
        activated,
    ]
    await svc.react(*events)
    await svc.react(activated)  # redelivered: still one welcome
    [mail] = await svc.outgoing(client_id)
    assert (mail["kind"], mail["channel"]) == ("welcome", "email")
    assert list(mail["recipients"]) == ["jan@bakker.nl"]
    text = mail["body_text"]
    for part in ("+31 85 123 4567", "*21*0851234567#", "##21#", "KPN landline", "#21#",
                 "- Water leak", "every day at"):  # fmt: skip
        assert part in text, (part, text)
    [saved] = await svc.events("ForwardingCodesSet")
    assert saved["provider"] == "kpn-vast"


@pytest.mark.infra
async def test_a_released_number_is_not_named_and_a_replay_queues_nothing(svc: Service) -> None:
    signed_up = registered(at=AT - timedelta(days=1))
    client_id = signed_up.client_id
    old = number_assigned(client_id, "+31850000001", AT - timedelta(hours=3))
    await svc.replay(signed_up, old, ClientActivated(client_id=client_id, occurred_at=AT))
    assert await svc.outgoing(client_id) == []
    await svc.react(
        NumberReleased(client_id=client_id, occurred_at=AT - timedelta(hours=2), number=old.number),
        number_assigned(client_id, NUMBER, AT - timedelta(hours=1)),
        ClientActivated(client_id=client_id, occurred_at=AT + timedelta(minutes=1)),
    )
    [mail] = await svc.outgoing(client_id)
    assert "+31 85 123 4567" in mail["body_text"]
    assert "0850000001" not in mail["body_text"]
