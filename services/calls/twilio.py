"""TwiML answers of the calls service's voice webhook (signatures: libs/twilio.py)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from libs.events.values import Language
from libs.twilio import SAY_LANGUAGE, twiml

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
    return twiml(f"<Enqueue>{escape(queue)}</Enqueue>")


def to_voicemail(name: str, language: Language, recording_url: str, max_seconds: int) -> str:
    """TwiML that tells the caller the office is closed and records a message."""
    text = _AFTER_HOURS[language].format(name=name)
    return twiml(
        f"<Say language={quoteattr(SAY_LANGUAGE[language])}>{escape(text)}</Say>"
        f'<Record action={quoteattr(recording_url)} method="POST" '
        f'maxLength="{max_seconds}" playBeep="true"/>'
        "<Hangup/>"
    )


def reject() -> str:
    """TwiML that refuses a call to a number nobody holds."""
    return twiml('<Reject reason="rejected"/>')


def hang_up() -> str:
    """TwiML that ends the call."""
    return twiml("<Hangup/>")
