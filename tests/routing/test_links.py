"""Signed acknowledgement links and Twilio signatures and TwiML of routing, pure."""

from __future__ import annotations

from uuid import UUID

import pytest

from libs.twilio import compute_signature, signature_valid
from services.routing.links import ack_link, ack_token, verified_attempt
from services.routing.twilio import dial, nobody

SECRET = "ack-secret"
ESCALATION = UUID("01890a5d-ac96-774b-bcce-b302099a8059")
OTHER = UUID("01890a5d-ac96-774b-bcce-b302099a805a")


def test_a_token_acknowledges_exactly_its_attempt_of_its_escalation() -> None:
    token = ack_token(SECRET, ESCALATION, 2)
    assert token.startswith("2.")
    assert verified_attempt(SECRET, ESCALATION, token) == 2
    assert verified_attempt(SECRET, OTHER, token) is None
    assert verified_attempt("another-secret", ESCALATION, token) is None


@pytest.mark.parametrize(
    "forged",
    ["", "2", "2.", "abc", "0." + "A" * 43, "3" + ack_token(SECRET, ESCALATION, 2)[1:]],
)
def test_a_forged_or_altered_token_is_refused(forged: str) -> None:
    assert verified_attempt(SECRET, ESCALATION, forged) is None


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
