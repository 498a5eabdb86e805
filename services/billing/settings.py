"""Settings only the billing service reads (environment variables FRONTDESK_BILLING_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    """The bureau's details printed on invoices, payment terms and the low-balance warning."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_BILLING_", extra="ignore")

    bureau_name: str = Field(default="Frontdesk Secretariaat B.V.", max_length=200)
    bureau_address: str = Field(
        default="Herengracht 1\n1015 BA Amsterdam\nNederland",
        max_length=500,
        description="Postal address; lines separated by newlines",
    )
    bureau_vat_number: str = Field(default="NL000000000B01", max_length=40)
    bureau_iban: str = Field(default="NL00BANK0000000000", max_length=40)
    bureau_email: str = Field(default="facturen@frontdesk.example", max_length=254)
    payment_terms_days: int = Field(default=14, ge=0, le=365)
    low_balance_alert_window_seconds: int = Field(
        default=3600,
        ge=0,
        description="A punch-card warning is sent only for events this recent: a projection "
        "rebuilt from old events warns about nothing that was already news",
    )
    pdf_font_path: str | None = Field(
        default="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        description="A Unicode TTF font for PDFs; when missing, Helvetica (Latin-1) is used",
    )
    replay_timeout_seconds: float = Field(default=60, gt=0, le=3600)
