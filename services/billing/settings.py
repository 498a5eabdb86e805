"""Settings only the billing service reads (environment variables FRONTDESK_BILLING_*)."""

from __future__ import annotations

from email.utils import parseaddr

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    """The bureau's details on invoices, payment terms, reminders and the invoice mail."""

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

    bureau_kvk_number: str = Field(default="00000000", max_length=20)
    client_country: str = Field(
        default="NL",
        pattern=r"^[A-Z]{2}$",
        description="Country code of a client's address in the UBL file: intake records no "
        "client address, and the bureau serves Dutch businesses",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=300)
    sender: str = Field(default="Frontdesk <facturen@frontdesk.local>", max_length=300)
    message_id_domain: str = Field(default="frontdesk.local", pattern=r"^[A-Za-z0-9.-]{1,200}$")
    mail_enabled: bool = Field(
        default=True, description="Mail issued invoices and reminders to the client"
    )
    reminder_days: tuple[int, ...] = Field(
        default=(7, 21),
        min_length=0,
        max_length=10,
        description="Days after the due date on which a payment reminder goes out",
    )
    reminder_poll_seconds: float = Field(default=60, gt=0, le=3600)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    outbox_batch: int = Field(default=20, ge=1, le=500)
    outbox_lease_seconds: float = Field(default=180, gt=0, le=3600)
    outbox_retry_base_seconds: float = Field(default=5, gt=0, le=3600)
    outbox_retry_max_seconds: float = Field(default=3600, gt=0, le=86400)
    outbox_max_attempts: int = Field(default=12, ge=1, le=100)

    @field_validator("sender")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("sender must be an e-mail address, optionally with a name")
        return value

    @field_validator("reminder_days")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 or day > 365 for day in value) or list(value) != sorted(set(value)):
            raise ValueError("reminder_days must be increasing days between 1 and 365")
        return value
