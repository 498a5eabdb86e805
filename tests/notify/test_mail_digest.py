"""The mail the bureau handled for a client, in its daily digest ("Mail handled today").

Domain: the inbox's events fold into one conversation each (a repeated or older event changes
nothing; spam is final and never listed). Service layer on the real PostgreSQL, one rolled-back
transaction per test: replied, forwarded and handled conversations are listed with what was
done, an overdue one as awaiting an answer, spam not; a day with mail and no calls still has
a digest, a day with calls and no mail has no empty section; per-call clients get nothing new.
The templates: every language.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from libs.events import ClientRegistered, NotificationPreferences, OfficeHours, new_id
from libs.events.inbox import (
    AnswerUndeliverable,
    ConversationEvent,
    ConversationForwarded,
    ConversationHandled,
    ConversationMarkedSpam,
    ConversationOpened,
    MailReceived,
    ReplySent,
)
from libs.events.values import Language
from libs.platform.clock import read_clock
from services.notify import commands, directory
from services.notify.compose import Composer
from services.notify.domain import mail
from services.notify.domain.filters import mail_entry
from services.notify.domain.model import Client
from services.notify.domain.plan import daily_digest
from tests.notify.conftest import NotifyStack, mails_to, notify_events
from tests.notify.service_layer import Service, Transport, fake_transports, rolled_back_service
from tests.support.builders import call_received, note_recorded, registered
from tests.support.pipeline import wait_until

AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY = date(2026, 3, 10)
WEDNESDAY = TUESDAY + timedelta(days=1)
LANGUAGES: tuple[Language, ...] = ("nl", "en", "de", "fr")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An Amsterdam wall-clock time as a UTC instant."""
    return datetime.combine(day, time(hour, minute), AMS).astimezone(UTC)


def client(mode: str = "daily_digest", language: Language = "en") -> ClientRegistered:
    """A client registered a month before the test's Tuesday."""
    prefs = NotificationPreferences(mode=mode, recipients=("jan@bakker.nl",))  # type: ignore[arg-type]
    return registered(at=at(TUESDAY, 8) - timedelta(days=30), notification=prefs, language=language)


def conversation(
    client_id: UUID, subject: str, came: datetime, sender: str = "klant@voorbeeld.nl"
) -> tuple[ConversationOpened, MailReceived]:
    """A mail that opened a conversation, due two hours after it came."""
    cid = new_id()
    opened = ConversationOpened(
        client_id=client_id, occurred_at=came, conversation_id=cid, topic="Offerte", language="nl"
    )
    received = MailReceived(
        client_id=client_id, occurred_at=came, conversation_id=cid, mail_id=new_id(),
        message_id=f"<{cid}@voorbeeld.nl>", via="forward", sender=sender,
        sender_name="Anna de Vries", subject=subject, received_at=came,
        due_at=came + timedelta(hours=2),
    )  # fmt: skip
    return opened, received


def replied(mail_in: MailReceived, when: datetime) -> ReplySent:
    """The operator answered the mail."""
    return ReplySent(
        client_id=mail_in.client_id, occurred_at=when, conversation_id=mail_in.conversation_id,
        message_id=f"<{new_id()}@frontdesk.test>", in_reply_to=mail_in.message_id,
        to=mail_in.sender, subject=f"Re: {mail_in.subject}", text="Dank voor uw bericht.",
    )  # fmt: skip


def forwarded(mail_in: MailReceived, when: datetime) -> ConversationForwarded:
    """The mail went on to the client."""
    return ConversationForwarded(
        client_id=mail_in.client_id, occurred_at=when, conversation_id=mail_in.conversation_id,
        to="jan@bakker.nl", message_id=f"<{new_id()}@frontdesk.test>",
    )  # fmt: skip


def handled(mail_in: MailReceived, when: datetime) -> ConversationHandled:
    """Nothing more to do."""
    return ConversationHandled(
        client_id=mail_in.client_id, occurred_at=when, conversation_id=mail_in.conversation_id
    )


def spam(mail_in: MailReceived, when: datetime) -> ConversationMarkedSpam:
    """Marked as spam."""
    return ConversationMarkedSpam(
        client_id=mail_in.client_id, occurred_at=when, conversation_id=mail_in.conversation_id
    )


def fold(*events: ConversationEvent) -> mail.Conversation:
    """The conversation after its events, in order."""
    state: mail.Conversation | None = None
    for event in events:
        state = mail.evolve(state, event)
    assert state is not None
    return state


def person(mode: str = "daily_digest", language: Language = "en") -> Client:
    """A client known to notify (no I/O)."""
    return Client(
        UUID(int=7), "Bakker", language, mode, ("jan@bakker.nl",), time(17, 15),  # type: ignore[arg-type]
        OfficeHours(), registered_at=at(TUESDAY, 8) - timedelta(days=30),
    )  # fmt: skip


# domain


def test_a_conversation_keeps_its_topic_latest_mail_and_what_the_bureau_did() -> None:
    opened, received = conversation(UUID(int=7), "Vraag over factuur", at(TUESDAY, 9))
    answer = replied(received, at(TUESDAY, 10))
    state = fold(opened, received, answer)
    assert (state.topic, state.subject, state.sender_name) == (
        "Offerte",
        "Vraag over factuur",
        "Anna de Vries",
    )
    assert (state.action, state.acted_at, state.awaiting_answer) == (
        "replied",
        at(TUESDAY, 10),
        False,
    )
    assert fold(opened, received, answer, received, answer) == state, "redelivery changes nothing"
    assert fold(opened, received, answer, handled(received, at(TUESDAY, 9, 30))) == state, (
        "an older action delivered late changes nothing"
    )


def test_a_reply_the_relay_never_took_is_not_listed_as_done() -> None:
    opened, received = conversation(UUID(int=7), "Vraag over factuur", at(TUESDAY, 9))
    answer = replied(received, at(TUESDAY, 10))
    lost = AnswerUndeliverable(
        client_id=received.client_id, occurred_at=at(TUESDAY, 16),
        conversation_id=received.conversation_id, message_id=answer.message_id, kind="reply",
    )  # fmt: skip
    state = fold(opened, received, answer, lost)
    assert (state.action, state.awaiting_answer, state.due_at) == (None, True, at(TUESDAY, 16))
    assert fold(opened, received, answer, lost, lost) == state
    done = handled(received, at(TUESDAY, 17))
    assert fold(opened, received, answer, done, lost).action == "handled", "moved on since"


def test_spam_is_final_and_never_listed() -> None:
    opened, received = conversation(UUID(int=7), "Win nu!", at(TUESDAY, 9))
    state = fold(
        opened, received, spam(received, at(TUESDAY, 9, 5)), handled(received, at(TUESDAY, 11))
    )
    assert state.action == "spam"
    assert mail_entry(person(), TUESDAY, state) is None


def test_the_digest_says_what_was_done_or_that_an_answer_is_overdue() -> None:
    who = person()
    _, received = conversation(who.client_id, "Vraag", at(TUESDAY, 9))
    assert mail_entry(who, TUESDAY, fold(received, replied(received, at(TUESDAY, 10)))) == "replied"
    assert (
        mail_entry(who, TUESDAY, fold(received, forwarded(received, at(TUESDAY, 10))))
        == "forwarded"
    )
    assert mail_entry(who, WEDNESDAY, fold(received, handled(received, at(TUESDAY, 10)))) is None
    assert mail_entry(who, TUESDAY, fold(received)) == "overdue", "due 11:00, digest at 17:15"
    _, late = conversation(who.client_id, "Laat", at(TUESDAY, 16))
    assert mail_entry(who, TUESDAY, fold(late)) is None, "due 18:00, after the digest"


def test_no_mail_and_no_calls_is_no_digest_and_mail_alone_is_one() -> None:
    who = person()
    assert daily_digest(who, TUESDAY, [], []) is None
    _, received = conversation(who.client_id, "Vraag", at(TUESDAY, 9))
    digest = daily_digest(who, TUESDAY, [], [fold(received, handled(received, at(TUESDAY, 9, 30)))])
    assert digest is not None
    assert digest.call_ids == ()
    assert [entry.shown for entry in digest.mails] == ["handled"]


WORDS = {
    "nl": ("Vandaag afgehandelde e-mail", "beantwoord", "naar u doorgestuurd", "afgehandeld",
           "wacht op antwoord, uiterlijk "),
    "en": ("Mail handled today", "replied", "forwarded to you", "handled",
           "awaiting an answer, due "),
    "de": ("Heute bearbeitete E-Mails", "beantwortet", "an Sie weitergeleitet", "erledigt",
           "wartet auf Antwort, fällig "),
    "fr": ("Courriels traités aujourd'hui", "réponse envoyée", "vous a été transféré", "traité",
           "en attente de réponse, échéance "),
}  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_renders_the_mail_section(language: Language) -> None:
    who = person(language=language)
    _, a = conversation(who.client_id, "Vraag <factuur>", at(TUESDAY, 9))
    _, b = conversation(who.client_id, "Afspraak", at(TUESDAY, 9, 10))
    _, c = conversation(who.client_id, "Klacht", at(TUESDAY, 9, 20))
    _, d = conversation(who.client_id, "Open vraag", at(TUESDAY, 9, 30))
    done = [
        fold(a, replied(a, at(TUESDAY, 10))),
        fold(b, forwarded(b, at(TUESDAY, 10, 5))),
        fold(c, handled(c, at(TUESDAY, 10, 10))),
        fold(d),
    ]
    digest = daily_digest(who, TUESDAY, [], done)
    assert digest is not None
    rendered = Composer().render(digest)
    section, *what = WORDS[language]
    for text in (section, *what, "Anna de Vries <klant@voorbeeld.nl>", "Vraag <factuur>"):
        assert text in rendered.text
    assert rendered.html is not None
    assert section.replace("'", "&#39;") in rendered.html
    assert "Vraag &lt;factuur&gt;" in rendered.html
    [overdue] = [line for line in rendered.text.splitlines() if what[-1] in line]
    assert overdue.endswith("11:30"), "due two hours after it came, on the reader's clock"


# service layer


@pytest.fixture
def transports() -> dict[str, Transport]:
    """One fake transport per channel."""
    return fake_transports()


@pytest.fixture
async def svc(database_url: str, transports: dict[str, Transport]) -> AsyncIterator[Service]:
    """Notify on a rolled-back transaction at 09:00 on the Tuesday."""
    async with rolled_back_service(database_url, transports, at(TUESDAY, 9)) as service:
        yield service


async def run(svc: Service, registration: ClientRegistered, day: date) -> commands.DigestOutcome:
    """The client's digest for the day, at its digest time."""
    known = await directory.load_client(svc.conn, svc.schema, registration.client_id)
    assert known is not None
    return await commands.run_digest(
        svc.pool, svc.schema, svc.notifier, known, day, at(day, 17, 15)
    )


def handled_day(client_id: UUID, day: date = TUESDAY) -> list[ConversationEvent]:
    """Four mails in a morning: replied, forwarded, handled, spam."""
    events: list[ConversationEvent] = []
    for n, (subject, act) in enumerate(
        [("Vraag", replied), ("Doorsturen", forwarded), ("Klaar", handled), ("Win nu!", spam)]
    ):
        opened, received = conversation(client_id, subject, at(day, 9, 10 * n))
        events += [opened, received, act(received, at(day, 11, n))]  # type: ignore[operator]
    return events


@pytest.mark.infra
async def test_a_day_of_mail_and_no_calls_still_sends_a_digest_without_spam(
    svc: Service,
) -> None:
    registration = client()
    events = handled_day(registration.client_id)
    await svc.react(registration, *events)
    await svc.react(*events)  # redelivered
    outcome = await run(svc, registration, TUESDAY)
    assert outcome.notification_id is not None
    assert outcome.calls == 0
    [digest] = await svc.outgoing(registration.client_id)
    text = digest["body_text"]
    assert digest["subject"] == "Mail we handled for you on Tuesday 2026-03-10 (3)"
    assert "Mail handled today" in text
    for line in ("replied (11:00)", "forwarded to you (11:01)", "handled (11:02)"):
        assert text.count(line) == 1, line
    assert "Win nu!" not in text
    assert text.count("Anna de Vries") == 3
    assert (await run(svc, registration, WEDNESDAY)).notification_id is None, "nothing new"


@pytest.mark.infra
async def test_calls_and_no_mail_show_no_empty_section(svc: Service) -> None:
    registration = client()
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    await svc.react(registration, call, note_recorded(call, "Lekkage", at(TUESDAY, 9, 25)))
    assert (await run(svc, registration, TUESDAY)).calls == 1
    [digest] = await svc.outgoing(registration.client_id)
    assert "Mail handled today" not in digest["body_text"]
    assert "Mail handled today" not in digest["body_html"]


@pytest.mark.infra
async def test_calls_and_mail_share_one_digest(svc: Service) -> None:
    registration = client(language="nl")
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    await svc.react(registration, call, note_recorded(call, "Lekkage", at(TUESDAY, 9, 25)))
    await svc.react(*handled_day(registration.client_id))
    assert (await run(svc, registration, TUESDAY)).calls == 1
    [digest] = await svc.outgoing(registration.client_id)
    assert "Lekkage" in digest["body_text"]
    assert "Vandaag afgehandelde e-mail" in digest["body_text"]
    assert digest["call_ids"] == [call.call_id]


@pytest.mark.infra
async def test_per_call_clients_get_nothing_for_mail(svc: Service) -> None:
    registration = client("per_call")
    await svc.react(registration, *handled_day(registration.client_id))
    assert await svc.outgoing(registration.client_id) == []
    assert (
        await commands.run_digests(svc.pool, svc.schema, svc.notifier, TUESDAY, at(TUESDAY, 18))
        == []
    )
    assert await svc.outgoing(registration.client_id) == []


@pytest.mark.infra
async def test_a_replay_rebuilds_the_conversations_and_queues_nothing(svc: Service) -> None:
    registration = client()
    await svc.replay(registration, *handled_day(registration.client_id))
    assert await svc.outgoing(registration.client_id) == []
    assert (await run(svc, registration, TUESDAY)).notification_id is not None


# through Kafka to the real SMTP server


@pytest.mark.infra
async def test_mail_from_the_inbox_topic_reaches_the_clients_digest(stack: NotifyStack) -> None:
    day = (await clock_now(stack)).astimezone(AMS).date()
    client_id = new_id()
    events = handled_day(client_id, day)
    await stack.append(events)
    # The first conversation's events again, as an inbox retrying them would (new envelopes).
    await stack.append([e.model_copy(update={"event_id": new_id()}) for e in events[:3]])
    await _until_kept(stack, {e.conversation_id for e in events})
    # Registered after its mail was kept: the digest (scheduled or run here) finds it all.
    recipient = f"{client_id.hex[:12]}@bakker.test"
    prefs = NotificationPreferences(mode="daily_digest", recipients=(recipient,))
    await stack.append([registered(client_id, at(day, 8), notification=prefs, language="en")])
    await _until_client(stack, client_id)
    response = await stack.http.post("/digests/run", json={"date": day.isoformat()})
    assert response.status_code == 200, response.text
    [digest] = await mails_to(stack, recipient, 1)
    body = digest.body()
    assert "Mail handled today" in body
    for line in ("replied (11:00)", "forwarded to you (11:01)", "handled (11:02)"):
        assert body.count(line) == 1, line
    assert "Win nu!" not in body
    [sent] = await notify_events(stack, client_id, "NotificationSent", 1)
    assert sent.call_ids == ()


async def clock_now(stack: NotifyStack) -> datetime:
    """Where the stack's simulation clock stands."""
    conn = await asyncpg.connect(stack.clock_dsn)
    try:
        return await read_clock(conn)
    finally:
        await conn.close()


async def _until_kept(stack: NotifyStack, conversations: set[UUID]) -> None:
    async def kept() -> bool:
        if not await stack.pool.fetchval("SELECT to_regclass($1)", f"{stack.schema}.conversations"):
            return False
        count = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.conversations "
            "WHERE conversation_id = ANY($1::uuid[])",
            list(conversations),
        )
        return bool(count == len(conversations))

    await wait_until(kept, within=60, what="notify to keep the conversations")


async def _until_client(stack: NotifyStack, client_id: UUID) -> None:
    async def known() -> bool:
        return await directory.load_client(stack.pool, stack.schema, client_id) is not None

    await wait_until(known, within=60, what=f"notify to know client {client_id}")
