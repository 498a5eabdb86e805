"""Words of the invoice mail, the reminder and the PDF's appendix, in nl, en, de and fr."""

from __future__ import annotations

PDF_LABELS: dict[str, dict[str, str]] = {
    "en": {"kvk": "Chamber of Commerce (KvK)", "supply": "Period of supply",
           "client_vat": "Client VAT number", "appendix": "Appendix: specification of calls",
           "when": "Date and time", "caller": "Caller", "rate": "Rate", "status": "Status",
           "why": "not billed", "billed": "billed", "no_calls": "No calls in this period."},
    "nl": {"kvk": "KvK-nummer", "supply": "Leveringsperiode",
           "client_vat": "Btw-nummer klant", "appendix": "Bijlage: specificatie van gesprekken",
           "when": "Datum en tijd", "caller": "Beller", "rate": "Tarief", "status": "Status",
           "why": "niet gefactureerd", "billed": "gefactureerd",
           "no_calls": "Geen gesprekken in deze periode."},
    "de": {"kvk": "Handelsregister (KvK)", "supply": "Leistungszeitraum",
           "client_vat": "USt-IdNr. des Kunden", "appendix": "Anlage: Einzelnachweis der Anrufe",
           "when": "Datum und Uhrzeit", "caller": "Anrufer", "rate": "Tarif",
           "why": "nicht berechnet", "billed": "berechnet", "status": "Status",
           "no_calls": "Keine Anrufe in diesem Zeitraum."},
    "fr": {"kvk": "Chambre de commerce (KvK)", "supply": "Période de prestation",
           "client_vat": "N° TVA du client", "appendix": "Annexe : détail des appels",
           "when": "Date et heure", "caller": "Appelant", "rate": "Tarif", "status": "Statut",
           "why": "non facturé", "billed": "facturé", "no_calls": "Aucun appel sur cette période."},
}  # fmt: skip

REASONS: dict[str, dict[str, str]] = {
    "wrong_number": {"en": "wrong number", "nl": "verkeerd verbonden",
                     "de": "falsch verbunden", "fr": "faux numéro"},
    "urgent_family_matter": {"en": "urgent family matter", "nl": "dringende familiezaak",
                             "de": "dringende Familienangelegenheit",
                             "fr": "affaire familiale urgente"},
    "caller_follows_up_themselves": {"en": "caller e-mailed or called back",
                                     "nl": "beller mailde of belde zelf terug",
                                     "de": "Anrufer hat selbst gemailt oder zurückgerufen",
                                     "fr": "l'appelant a écrit ou rappelé lui-même"},
    "cold_call": {"en": "cold call", "nl": "acquisitiegesprek", "de": "Werbeanruf",
                  "fr": "démarchage"},
    "incomplete_intake": {"en": "incomplete intake details", "nl": "onvolledig intakeformulier",
                          "de": "unvollständige Aufnahmedaten",
                          "fr": "informations d'accueil incomplètes"},
}  # fmt: skip

MAIL: dict[str, dict[str, str]] = {
    "en": {
        "invoice_subject": "Invoice {number} from {bureau}",
        "invoice_body": "Dear {client},\n\nPlease find attached invoice {number} for {period}, "
                        "EUR {total}, due on {due}.\nPlease pay to {iban}, quoting {number}.\n"
                        "The PDF and the e-invoice (UBL) are attached.\n\nKind regards,\n{bureau}",
        "credit_note_subject": "Credit note {number} from {bureau}",
        "credit_note_body": "Dear {client},\n\nPlease find attached credit note {number} "
                            "(EUR {total}) against invoice {original}.\nThe PDF and the "
                            "e-invoice (UBL) are attached.\n\nKind regards,\n{bureau}",
        "reminder_subject": "Payment reminder {ordinal}: invoice {number}",
        "reminder_body": "Dear {client},\n\nOur records show that invoice {number} of {date}, "
                         "due on {due}, is still open: EUR {outstanding}.\nPlease pay to {iban}, "
                         "quoting {number}. If you have paid already, please ignore this "
                         "message.\n\nKind regards,\n{bureau}",
    },
    "nl": {
        "invoice_subject": "Factuur {number} van {bureau}",
        "invoice_body": "Beste {client},\n\nIn de bijlage vindt u factuur {number} over {period}, "
                        "EUR {total}, te voldoen uiterlijk {due}.\nGelieve te betalen op {iban} "
                        "o.v.v. {number}.\nDe pdf en de e-factuur (UBL) zijn bijgevoegd.\n\n"
                        "Met vriendelijke groet,\n{bureau}",
        "credit_note_subject": "Creditnota {number} van {bureau}",
        "credit_note_body": "Beste {client},\n\nIn de bijlage vindt u creditnota {number} "
                            "(EUR {total}) op factuur {original}.\nDe pdf en de e-factuur (UBL) "
                            "zijn bijgevoegd.\n\nMet vriendelijke groet,\n{bureau}",
        "reminder_subject": "Betalingsherinnering {ordinal}: factuur {number}",
        "reminder_body": "Beste {client},\n\nVolgens onze administratie staat factuur {number} "
                         "van {date}, te voldoen uiterlijk {due}, nog open: EUR {outstanding}.\n"
                         "Gelieve te betalen op {iban} o.v.v. {number}. Heeft u al betaald, "
                         "dan kunt u dit bericht negeren.\n\nMet vriendelijke groet,\n{bureau}",
    },
    "de": {
        "invoice_subject": "Rechnung {number} von {bureau}",
        "invoice_body": "Guten Tag {client},\n\nanbei erhalten Sie Rechnung {number} für "
                        "{period} über EUR {total}, fällig am {due}.\nBitte zahlen Sie auf "
                        "{iban} unter Angabe von {number}.\nPDF und E-Rechnung (UBL) sind "
                        "beigefügt.\n\nMit freundlichen Grüßen\n{bureau}",
        "credit_note_subject": "Gutschrift {number} von {bureau}",
        "credit_note_body": "Guten Tag {client},\n\nanbei erhalten Sie Gutschrift {number} "
                            "(EUR {total}) zu Rechnung {original}.\nPDF und E-Rechnung (UBL) "
                            "sind beigefügt.\n\nMit freundlichen Grüßen\n{bureau}",
        "reminder_subject": "Zahlungserinnerung {ordinal}: Rechnung {number}",
        "reminder_body": "Guten Tag {client},\n\nnach unseren Unterlagen ist Rechnung {number} "
                         "vom {date}, fällig am {due}, noch offen: EUR {outstanding}.\nBitte "
                         "zahlen Sie auf {iban} unter Angabe von {number}. Falls Sie bereits "
                         "gezahlt haben, betrachten Sie diese Nachricht bitte als "
                         "gegenstandslos.\n\nMit freundlichen Grüßen\n{bureau}",
    },
    "fr": {
        "invoice_subject": "Facture {number} de {bureau}",
        "invoice_body": "Bonjour {client},\n\nVeuillez trouver ci-joint la facture {number} "
                        "pour {period}, EUR {total}, à régler au plus tard le {due}.\nMerci de "
                        "payer sur {iban} en indiquant {number}.\nLe PDF et la facture "
                        "électronique (UBL) sont joints.\n\nCordialement,\n{bureau}",
        "credit_note_subject": "Avoir {number} de {bureau}",
        "credit_note_body": "Bonjour {client},\n\nVeuillez trouver ci-joint l'avoir {number} "
                            "(EUR {total}) sur la facture {original}.\nLe PDF et la facture "
                            "électronique (UBL) sont joints.\n\nCordialement,\n{bureau}",
        "reminder_subject": "Relance de paiement {ordinal} : facture {number}",
        "reminder_body": "Bonjour {client},\n\nSelon nos registres, la facture {number} du "
                         "{date}, échue le {due}, reste impayée : EUR {outstanding}.\nMerci de "
                         "payer sur {iban} en indiquant {number}. Si vous avez déjà payé, "
                         "veuillez ignorer ce message.\n\nCordialement,\n{bureau}",
    },
}  # fmt: skip


def language_of(language: str) -> str:
    """The language to write in: the client's, or English for one we do not write."""
    return language if language in MAIL else "en"


def reason_text(reason: str, language: str) -> str:
    """A non-billable reason in the client's language."""
    return REASONS.get(reason, {}).get(language_of(language), reason.replace("_", " "))
