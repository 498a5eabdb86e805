"""TwiML answers of the calls service's voice webhook (signatures: libs/twilio.py)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from libs.events.values import Language
from libs.twilio import say, twiml

_AFTER_HOURS: dict[Language, str] = {
    "nl": "U belt buiten kantoortijden van {name}. Spreek na de toon uw bericht in.",
    "de": "Sie rufen außerhalb der Geschäftszeiten von {name} an. "
    "Bitte hinterlassen Sie nach dem Ton eine Nachricht.",
    "en": "You are calling {name} outside office hours. Please leave a message after the tone.",
    "fr": "Vous appelez {name} en dehors des heures d'ouverture. "
    "Veuillez laisser un message après le bip.",
}


def to_operators(queue: str) -> str:
    """TwiML that puts the caller in the operators' queue for the client's language."""
    response = VoiceResponse()
    response.enqueue(queue)
    return twiml(response)


def to_voicemail(name: str, language: Language, recording_url: str, max_seconds: int) -> str:
    """TwiML that tells the caller the office is closed and records a message."""
    response = say(VoiceResponse(), _AFTER_HOURS[language].format(name=name), language)
    response.record(action=recording_url, method="POST", max_length=max_seconds, play_beep=True)
    response.hangup()
    return twiml(response)


def reject() -> str:
    """TwiML that refuses a call to a number nobody holds."""
    response = VoiceResponse()
    response.reject(reason="rejected")
    return twiml(response)


def hang_up() -> str:
    """TwiML that ends the call."""
    response = VoiceResponse()
    response.hangup()
    return twiml(response)
