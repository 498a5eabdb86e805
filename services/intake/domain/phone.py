"""Telephone numbers as the bureau writes them: E.164, checked against the numbering plan."""

from __future__ import annotations

import phonenumbers

from libs.errors import Rejected

DEFAULT_REGION = "NL"
"""Numbers written without a country code are Dutch (the bureau's home market)."""
_MAX_INPUT = 64


def normalise_number(raw: str, region: str = DEFAULT_REGION) -> str:
    """The number in E.164 form; Rejected if it is not a valid, dialable number."""
    if len(raw) > _MAX_INPUT:
        raise Rejected(f"{raw[:20]}...: a telephone number has at most {_MAX_INPUT} characters")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise Rejected(f"{raw!r} is not a telephone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise Rejected(f"{raw!r} is not a valid telephone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
