"""TwiML answers for the transfer leg of an escalation (signatures: libs/twilio.py)."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

from libs.events.values import Language
from libs.twilio import say, twiml

_NOBODY: dict[Language, str] = {
    "nl": "Er is op dit moment niemand bereikbaar. We bellen u zo snel mogelijk terug.",
    "de": "Im Moment ist niemand erreichbar. Wir rufen Sie so bald wie möglich zurück.",
    "en": "Nobody can be reached at the moment. We will call you back as soon as possible.",
    "fr": "Personne n'est joignable pour le moment. Nous vous rappellerons dès que possible.",
}


def dial(number: str, timeout_seconds: int) -> str:
    """TwiML that puts the call leg through to a contact's number."""
    leg = Dial(timeout=timeout_seconds)
    leg.number(number)
    return twiml(VoiceResponse().append(leg))


def nobody(language: Language) -> str:
    """TwiML that tells the caller nobody can be reached, then hangs up."""
    response = say(VoiceResponse(), _NOBODY[language], language)
    response.hangup()
    return twiml(response)
