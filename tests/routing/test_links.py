"""Signed acknowledgement links (their rule and their page) and Twilio's TwiML, pure."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

import pytest

from libs.events import Actor, EscalationAcknowledged, OfficeHours
from libs.events.values import Language
from libs.twilio import compute_signature, signature_valid
from services.routing.directory import ClientFacts
from services.routing.domain.ack_link import (
    DEFAULT_LINK_TTL,
    Verdict,
    ack_token,
    acknowledge_by_link,
    signed_attempt,
    verdict,
)
from services.routing.domain.chain import Chain, Step
from services.routing.domain.escalation import Acknowledge, Dispatch, Escalation
from services.routing.links import LinkPage, PageStatus, ack_link, language_of, page_of, render
from services.routing.twilio import dial, nobody

SECRET = "ack-secret"
ESCALATION = UUID("01890a5d-ac96-774b-bcce-b302099a8059")
OTHER = UUID("01890a5d-ac96-774b-bcce-b302099a805a")


def test_a_token_acknowledges_exactly_its_attempt_of_its_escalation() -> None:
    token = ack_token(SECRET, ESCALATION, 2)
    assert token.startswith("2.")
    assert signed_attempt(SECRET, ESCALATION, token) == 2
    assert signed_attempt(SECRET, OTHER, token) is None
    assert signed_attempt("another-secret", ESCALATION, token) is None


@pytest.mark.parametrize(
    "forged",
    ["", "2", "2.", "abc", "0." + "A" * 43, "3" + ack_token(SECRET, ESCALATION, 2)[1:]],
)
def test_a_forged_or_altered_token_is_refused(forged: str) -> None:
    assert signed_attempt(SECRET, ESCALATION, forged) is None


def test_the_link_carries_the_token_in_its_query() -> None:
    link = ack_link("https://routing.frontdesk.example/", SECRET, ESCALATION, 1)
    token = ack_token(SECRET, ESCALATION, 1)
    assert link == f"https://routing.frontdesk.example/escalations/{ESCALATION}/ack?token={token}"


def test_twilio_signatures_match_twilios_published_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    signature = compute_signature("12345", url, params.items())
    assert signature == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature_valid("12345", url, params.items(), signature)
    assert not signature_valid("12345", url + "&x=1", params.items(), signature)
    assert not signature_valid("12345", url, params.items(), None)


def test_twiml_dials_the_contact_or_says_nobody_can_be_reached() -> None:
    assert '<Dial timeout="30"><Number>+31611111111</Number></Dial>' in dial("+31611111111", 30)
    assert 'language="de-DE"' in nobody("de")
    assert nobody("nl").endswith("<Hangup /></Response>")


# When a link still acknowledges (the domain's rule) ------------------------------------------

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Amsterdam
TTL = DEFAULT_LINK_TTL
LANGUAGES: tuple[Language, ...] = ("nl", "en", "de", "fr")


def dispatched(*attempts: int) -> Escalation:
    """An escalation requested at T0 whose attempts were made ten minutes apart."""
    made = tuple(
        Dispatch(n, n - 1, "sms", f"+3161000000{n}", T0 + (n - 1) * timedelta(minutes=10),
                 T0 + n * timedelta(minutes=10))
        for n in attempts
    )  # fmt: skip
    return Escalation(
        ESCALATION, UUID(int=1), UUID(int=2), UUID(int=3), UUID(int=4), urgency_kind="leak",
        book_version=1, requested_at=T0,
        status="dispatched" if made else "requested", dispatches=made, version=len(made),
    )  # fmt: skip


def ended(state: Escalation, status: Literal["acknowledged", "exhausted"]) -> Escalation:
    """The escalation acknowledged or exhausted a minute after its last attempt."""
    closed = state.dispatches[-1].dispatched_at + timedelta(minutes=1)
    name = "Contact 1" if status == "acknowledged" else None
    return replace(state, status=status, acknowledged_by=name, closed_at=closed)


@pytest.mark.parametrize(
    ("state", "attempt", "at", "expected"),
    [
        (dispatched(1), 1, T0, "open"),
        (dispatched(1, 2), 1, T0 + timedelta(minutes=15), "open"),
        (dispatched(1), 1, T0 + TTL - timedelta(seconds=1), "open"),
        (dispatched(1), 1, T0 + TTL, "expired"),
        (dispatched(1, 2), 2, T0 + TTL, "open"),
        (dispatched(1), 2, T0, "invalid"),
        (dispatched(), 1, T0, "invalid"),
        (ended(dispatched(1), "acknowledged"), 1, T0 + timedelta(minutes=2), "acknowledged"),
        (ended(dispatched(1, 2, 3), "exhausted"), 2, T0 + timedelta(hours=1), "exhausted"),
        (ended(dispatched(1), "acknowledged"), 1, T0 + TTL, "expired"),
    ],
)
def test_a_link_acknowledges_only_its_made_attempt_while_the_chain_is_open_and_it_is_young(
    state: Escalation, attempt: int, at: datetime, expected: Verdict
) -> None:
    assert verdict(state, attempt, at, TTL) == expected


def by_link(attempt: int, at: datetime) -> Acknowledge:
    """The button of the link for `attempt`, pressed at `at`."""
    chain = Chain(tuple(Step(i, f"Contact {i}", "sms", f"+3161000000{i}") for i in range(3)))
    actor = Actor(kind="client", id=f"ack-link:{attempt}")
    return Acknowledge(at=at, by="", actor=actor, attempt=attempt, chain=chain)


def test_the_button_acknowledges_an_open_link_and_a_dead_one_records_nothing() -> None:
    state = dispatched(1, 2)
    found, events = acknowledge_by_link(by_link(2, T0 + timedelta(minutes=12)), state, TTL)
    assert found == "open"
    [acked] = events
    assert isinstance(acked, EscalationAcknowledged)
    assert (acked.by, acked.contact_index) == ("Contact 1", 1)
    for command, dead in (
        (by_link(1, T0 + TTL), state),
        (by_link(1, T0 + timedelta(minutes=13)), ended(state, "acknowledged")),
        (by_link(1, T0 + timedelta(minutes=13)), ended(state, "exhausted")),
        (by_link(3, T0 + timedelta(minutes=13)), state),
    ):
        assert acknowledge_by_link(command, dead, TTL)[1] == []


# The page a link opens -----------------------------------------------------------------------

FACTS = ClientFacts(UUID(int=3), "Bakker <b>Installatie</b> & Zonen", "nl", OfficeHours())
BUTTON = {"nl": "Ja, ik pak het op", "en": "Yes, I am taking it",
          "de": "Ja, ich kümmere mich darum", "fr": "Oui, je m’en charge"}  # fmt: skip


def page(language: Language, status: PageStatus, state: Escalation | None = None) -> str:
    """The page of the link for attempt 1 in `language`."""
    facts = replace(FACTS, language=language)
    token = ack_token(SECRET, ESCALATION, 1)
    return render(page_of(status, 1, token, state or dispatched(1), facts))


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_open_link_shows_the_escalation_and_a_button_that_posts_its_token(
    language: Language,
) -> None:
    html = page(language, "open")
    assert f'<html lang="{language}">' in html
    form = re.search(r'<form method="post" action="ack/link">(.*?)</form>', html, re.S)
    assert form is not None, "a real form that works without JavaScript"
    token = ack_token(SECRET, ESCALATION, 1)
    assert f'<input type="hidden" name="token" value="{token}">' in form.group(1)
    assert f">{BUTTON[language]}</button>" in form.group(1)
    assert "<script" not in html
    assert "Bakker &lt;b&gt;Installatie&lt;/b&gt; &amp; Zonen" in html
    assert "leak" in html
    assert "10:00" in html, "when, on the client's clock"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("status", ["taken", "acknowledged", "exhausted", "expired", "invalid"])
def test_a_page_without_a_button_says_why_and_a_dead_link_shows_nothing(
    language: Language, status: PageStatus
) -> None:
    state = ended(dispatched(1), "exhausted" if status == "exhausted" else "acknowledged")
    html = page(language, status, state)
    assert "<form" not in html
    assert ack_token(SECRET, ESCALATION, 1) not in html
    shows_escalation = status not in ("expired", "invalid")
    assert ("Zonen" in html, "10:00" in html) == (shows_escalation, shows_escalation)
    assert ("Contact 1" in html) == (status == "taken")


def test_every_language_of_the_page_has_every_text() -> None:
    texts = [render(LinkPage("invalid", language)) for language in LANGUAGES]
    assert len(set(texts)) == len(LANGUAGES)


@pytest.mark.parametrize(
    ("header", "language"),
    [("de-CH,de;q=0.9,en;q=0.8", "de"), ("es-ES, fr;q=0.5", "fr"), ("EN", "en"), (None, "nl"),
     ("*", "nl"), ("x" * 300, "nl")],
)  # fmt: skip
def test_an_invalid_link_speaks_the_browsers_language(
    header: str | None, language: Language
) -> None:
    assert language_of(header) == language
