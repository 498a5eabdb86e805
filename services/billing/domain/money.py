"""Money rules: integer euro cents, the call rates, VAT 21% rounded half up, proration."""

from __future__ import annotations

CALL_RATE_CENTS = 200
"""EUR 2.00 per billable call."""
EMAIL_HANDLING_CALL_RATE_CENTS = 100
"""EUR 1.00 per billable call while the client also uses e-mail handling."""
VAT_PERCENT = 21


def vat_cents(subtotal_cents: int, percent: int = VAT_PERCENT) -> int:
    """VAT on a (non-negative) subtotal, rounded half up to whole cents: 1250 -> 263 (262.5)."""
    if subtotal_cents < 0:
        raise ValueError("VAT is computed on a non-negative subtotal")
    return (subtotal_cents * percent * 2 + 100) // 200


def prorate(amount_cents: int, days: int, of_days: int) -> int:
    """`amount * days / of_days`, rounded half up: a monthly fee for part of a month."""
    return (amount_cents * days * 2 + of_days) // (2 * of_days)


def euros(cents: int) -> str:
    """Cents as a plain euro amount: 12345 -> "123.45", -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
