"""Twilio-compatible voice webhooks: request signatures and TwiML documents.

Twilio signs a webhook with HMAC-SHA1 over the full URL followed by every POST parameter,
sorted by name, as name+value; the base64 digest is sent in X-Twilio-Signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from libs.events.values import Language

SIGNATURE_HEADER = "X-Twilio-Signature"
TWIML_MEDIA_TYPE = "application/xml"
SAY_LANGUAGE: dict[Language, str] = {"nl": "nl-NL", "de": "de-DE", "en": "en-GB", "fr": "fr-FR"}
"""The voice language Twilio's <Say> uses for each client language."""


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


def twiml(body: str) -> str:
    """A TwiML document around `body` (already escaped XML)."""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
