"""TwiML answers for the transfer leg of an escalation (signatures: libs/twilio.py)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from libs.events.values import Language
from libs.twilio import SAY_LANGUAGE, twiml

_NOBODY: dict[Language, str] = {
    "nl": "Er is op dit moment niemand bereikbaar. We bellen u zo snel mogelijk terug.",
    "de": "Im Moment ist niemand erreichbar. Wir rufen Sie so bald wie möglich zurück.",
    "en": "Nobody can be reached at the moment. We will call you back as soon as possible.",
    "fr": "Personne n'est joignable pour le moment. Nous vous rappellerons dès que possible.",
}


def dial(number: str, timeout_seconds: int) -> str:
    """TwiML that puts the call leg through to a contact's number."""
    return twiml(f'<Dial timeout="{timeout_seconds}"><Number>{escape(number)}</Number></Dial>')


def nobody(language: Language) -> str:
    """TwiML that tells the caller nobody can be reached, then hangs up."""
    say = f"<Say language={quoteattr(SAY_LANGUAGE[language])}>{escape(_NOBODY[language])}</Say>"
    return twiml(say + "<Hangup/>")
