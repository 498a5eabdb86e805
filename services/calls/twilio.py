"""Twilio's voice webhook: request signatures and the TwiML answers.

Twilio signs a webhook with HMAC-SHA1 over the full URL followed by every POST parameter,
sorted by name, as name+value; the base64 digest is sent in X-Twilio-Signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from libs.events.values import Language

SIGNATURE_HEADER = "X-Twilio-Signature"
TWIML_MEDIA_TYPE = "application/xml"
_SAY_LANGUAGE: dict[Language, str] = {"nl": "nl-NL", "de": "de-DE", "en": "en-GB", "fr": "fr-FR"}
_AFTER_HOURS: dict[Language, str] = {
    "nl": "U belt buiten kantoortijden van {name}. Spreek na de toon uw bericht in.",
    "de": "Sie rufen außerhalb der Geschäftszeiten von {name} an. "
    "Bitte hinterlassen Sie nach dem Ton eine Nachricht.",
    "en": "You are calling {name} outside office hours. Please leave a message after the tone.",
    "fr": "Vous appelez {name} en dehors des heures d'ouverture. "
    "Veuillez laisser un message après le bip.",
}


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of `params` to `url`."""
    payload = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """True when `signature` matches the URL (with or without its default port) and params."""
    if not signature:
        return False
    pairs = list(params)
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, pairs), signature)
        for candidate in _url_variants(url)
    )


def _url_variants(url: str) -> list[str]:
    """Twilio may sign with or without the scheme's default port; accept either."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or parts.port not in (None, default):
        return [url]
    netloc = host if parts.port else f"{host}:{default}"
    return [url, urlunsplit(parts._replace(netloc=netloc))]


def to_operators(queue: str) -> str:
    """TwiML that puts the caller in the operators' queue for the client's language."""
    return _response(f"<Enqueue>{escape(queue)}</Enqueue>")


def to_voicemail(name: str, language: Language, recording_url: str, max_seconds: int) -> str:
    """TwiML that tells the caller the office is closed and records a message."""
    text = _AFTER_HOURS[language].format(name=name)
    return _response(
        f"<Say language={quoteattr(_SAY_LANGUAGE[language])}>{escape(text)}</Say>"
        f'<Record action={quoteattr(recording_url)} method="POST" '
        f'maxLength="{max_seconds}" playBeep="true"/>'
        "<Hangup/>"
    )


def reject() -> str:
    """TwiML that refuses a call to a number nobody holds."""
    return _response('<Reject reason="rejected"/>')


def hang_up() -> str:
    """TwiML that ends the call."""
    return _response("<Hangup/>")


def _response(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
