"""Line descriptions in the client's language (nl, en, de, fr); amounts in EUR."""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "calls": {
        "en": "Calls handled in {period} at EUR {rate}",
        "nl": "Afgehandelde gesprekken {period} à EUR {rate}",
        "de": "Bearbeitete Anrufe {period} zu EUR {rate}",
        "fr": "Appels traités en {period} à EUR {rate}",
    },
    "drawn": {
        "en": "Calls in {period} drawn from the punch card at EUR {rate}",
        "nl": "Gesprekken {period} afgeschreven van de strippenkaart à EUR {rate}",
        "de": "Anrufe {period} von der Guthabenkarte abgebucht zu EUR {rate}",
        "fr": "Appels de {period} débités de la carte prépayée à EUR {rate}",
    },
    "overage": {
        "en": "Calls in {period} beyond the punch-card balance at EUR {rate}",
        "nl": "Gesprekken {period} boven het strippenkaarttegoed à EUR {rate}",
        "de": "Anrufe {period} über das Guthaben hinaus zu EUR {rate}",
        "fr": "Appels de {period} au-delà du solde prépayé à EUR {rate}",
    },
    "included": {
        "en": "Calls in {period} included in the fixed monthly amount",
        "nl": "Gesprekken {period} inbegrepen in het vaste maandbedrag",
        "de": "Anrufe {period} im festen Monatsbetrag enthalten",
        "fr": "Appels de {period} inclus dans le forfait mensuel",
    },
    "extra": {
        "en": "Calls in {period} beyond the included calls at EUR {rate}",
        "nl": "Gesprekken {period} boven de inbegrepen gesprekken à EUR {rate}",
        "de": "Anrufe {period} über die enthaltenen Anrufe hinaus zu EUR {rate}",
        "fr": "Appels de {period} au-delà des appels inclus à EUR {rate}",
    },
    "fixed_monthly": {
        "en": "Fixed monthly amount {period} ({first} to {last})",
        "nl": "Vast maandbedrag {period} ({first} t/m {last})",
        "de": "Fester Monatsbetrag {period} ({first} bis {last})",
        "fr": "Forfait mensuel {period} (du {first} au {last})",
    },
    "email_handling": {
        "en": "E-mail handling {period} ({first} to {last})",
        "nl": "E-mailafhandeling {period} ({first} t/m {last})",
        "de": "E-Mail-Bearbeitung {period} ({first} bis {last})",
        "fr": "Traitement des e-mails {period} (du {first} au {last})",
    },
    "setup_fee": {
        "en": "One-off setup fee",
        "nl": "Eenmalige aansluitkosten",
        "de": "Einmalige Einrichtungsgebühr",
        "fr": "Frais de mise en service uniques",
    },
    "punch_card_credit": {
        "en": "Punch-card credit",
        "nl": "Strippenkaarttegoed",
        "de": "Guthaben für die Guthabenkarte",
        "fr": "Crédit de carte prépayée",
    },
    "late": {
        "en": "Calls of {period} billable after invoice {invoice}",
        "nl": "Gesprekken van {period} factureerbaar na factuur {invoice}",
        "de": "Anrufe aus {period}, abrechenbar nach Rechnung {invoice}",
        "fr": "Appels de {period} facturables après la facture {invoice}",
    },
    "late_uninvoiced": {
        "en": "Calls of {period} not invoiced before",
        "nl": "Gesprekken van {period}, nog niet eerder gefactureerd",
        "de": "Anrufe aus {period}, bisher nicht abgerechnet",
        "fr": "Appels de {period} non facturés auparavant",
    },
    "credit": {
        "en": "Calls of {period} no longer billable (invoice {invoice})",
        "nl": "Gesprekken van {period} niet langer factureerbaar (factuur {invoice})",
        "de": "Anrufe aus {period} nicht mehr abrechenbar (Rechnung {invoice})",
        "fr": "Appels de {period} plus facturables (facture {invoice})",
    },
    "fee_correction": {
        "en": "Correction {what} {period} (invoice {invoice})",
        "nl": "Correctie {what} {period} (factuur {invoice})",
        "de": "Korrektur {what} {period} (Rechnung {invoice})",
        "fr": "Correction {what} {period} (facture {invoice})",
    },
}


def describe(key: str, language: str, **values: Any) -> str:
    """The text `key` in `language` (English when unknown), filled in with `values`."""
    texts = TEXTS[key]
    return texts.get(language, texts["en"]).format(**values)
