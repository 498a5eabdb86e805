"""Twilio request signatures, pure: HMAC-SHA1 over the URL and the sorted POST parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from libs.twilio import compute_signature, signature_valid
from services.calls.twilio import to_voicemail

TOKEN = "s3cr3t-auth-token"
URL = "https://calls.frontdesk.example/calls/twilio/voice"
PARAMS = [
    ("To", "+31851234567"),
    ("From", "+31612345678"),
    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
    ("Direction", "inbound"),
]


def by_hand() -> str:
    """The signature computed step by step, as Twilio documents it."""
    data = (
        URL
        + "CallSidCA0123456789abcdef0123456789abcdef"
        + "Directioninbound"
        + "From+31612345678"
        + "To+31851234567"
    )
    return base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_the_signature_is_hmac_sha1_of_the_url_and_the_sorted_parameters() -> None:
    assert compute_signature(TOKEN, URL, PARAMS) == by_hand()
    assert signature_valid(TOKEN, URL, PARAMS, by_hand())


def test_twilios_published_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert compute_signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_tampered_parameter_is_refused() -> None:
    tampered = [(name, "+31600000000" if name == "From" else value) for name, value in PARAMS]
    assert not signature_valid(TOKEN, URL, tampered, by_hand())


def test_an_added_parameter_is_refused() -> None:
    assert not signature_valid(TOKEN, URL, [*PARAMS, ("Digits", "1")], by_hand())


@pytest.mark.parametrize(
    "url",
    [
        "https://calls.frontdesk.example/calls/twilio/recording",
        "http://calls.frontdesk.example/calls/twilio/voice",
        "https://evil.example/calls/twilio/voice",
        URL + "?x=1",
    ],
)
def test_a_wrong_url_is_refused(url: str) -> None:
    assert not signature_valid(TOKEN, url, PARAMS, by_hand())


def test_a_wrong_token_or_a_missing_signature_is_refused() -> None:
    assert not signature_valid("another-token", URL, PARAMS, by_hand())
    assert not signature_valid(TOKEN, URL, PARAMS, None)
    assert not signature_valid(TOKEN, URL, PARAMS, "")


def test_the_default_port_may_be_named_or_left_out() -> None:
    with_port = URL.replace(".example/", ".example:443/")
    assert signature_valid(TOKEN, with_port, PARAMS, by_hand())
    signed_with_port = compute_signature(TOKEN, with_port, PARAMS)
    assert signature_valid(TOKEN, URL, PARAMS, signed_with_port)
    other_port = URL.replace(".example/", ".example:8443/")
    assert not signature_valid(TOKEN, other_port, PARAMS, by_hand())


def test_twiml_escapes_what_it_says() -> None:
    twiml = to_voicemail("Bakker & <Zonen>", "nl", "https://x.example/rec?a=1&b=2", 120)
    assert "Bakker &amp; &lt;Zonen&gt;" in twiml
    assert 'action="https://x.example/rec?a=1&amp;b=2"' in twiml
