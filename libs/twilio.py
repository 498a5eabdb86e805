"""Twilio voice webhooks through the `twilio` package: request signatures and TwiML documents.

Twilio signs a webhook with HMAC over the full URL and every POST parameter (sorted by name);
the package's RequestValidator checks it, with and without the scheme's default port. A URL
on another port must match exactly (the validator would drop any port).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator, compare
from twilio.twiml.voice_response import VoiceResponse

from libs.events.values import Language

SIGNATURE_HEADER = "X-Twilio-Signature"
TWIML_MEDIA_TYPE = "application/xml"
SAY_LANGUAGE: dict[Language, str] = {"nl": "nl-NL", "de": "de-DE", "en": "en-GB", "fr": "fr-FR"}
"""The voice language Twilio's <Say> uses for each client language."""


class FormParams(dict[str, list[str]]):
    """POSTed parameters with repeated names, in the shape RequestValidator reads (getall)."""

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> FormParams:
        """Group (name, value) pairs by name."""
        params = cls()
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        return params

    def getall(self, name: str) -> list[str]:
        """Every value POSTed under `name`."""
        return self[name]


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of `params` to `url`."""
    signature: str = RequestValidator(auth_token).compute_signature(url, FormParams.of(params))
    return signature


def signature_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """True when `signature` matches the URL (with or without its default port) and params."""
    if not signature:
        return False
    validator, form = RequestValidator(auth_token), FormParams.of(params)
    if _on_other_port(url):
        exact: bool = compare(validator.compute_signature(url, form), signature)
        return exact
    valid: bool = validator.validate(url, form, signature)
    return valid


def _on_other_port(url: str) -> bool:
    parts = urlsplit(url)
    return parts.port not in (None, {"https": 443, "http": 80}.get(parts.scheme))


def twiml(response: VoiceResponse) -> str:
    """The TwiML document of `response`, with its XML declaration."""
    return str(response)


def say(response: VoiceResponse, text: str, language: Language) -> VoiceResponse:
    """Add a <Say> of `text` in the voice of the client's language."""
    response.say(text, language=SAY_LANGUAGE[language])
    return response
