"""Sends e-mail through an SMTP server with aiosmtplib.

A 5xx answer to the recipients or the message is permanent; connection trouble, timeouts and
4xx answers are transient. Authentication and sender refusals are our configuration, not the
message's fault, so they stay transient until someone fixes the settings.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
import structlog

from services.notify.delivery import DeliveryError, Outgoing
from services.notify.settings import NotifySettings

log = structlog.get_logger(__name__)
CONFIGURATION_ERRORS = (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused)


class SmtpTransport:
    """Hands mail to the configured SMTP server."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def build(self, message: Outgoing) -> EmailMessage:
        """The e-mail as sent: identical on every attempt, Message-ID included."""
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.settings.sender
        mail["To"] = ", ".join(message.recipients)
        mail["Date"] = format_datetime(message.created_at)
        mail["Message-ID"] = message.message_id
        mail["Auto-Submitted"] = "auto-generated"
        mail["Content-Language"] = message.language
        mail["X-Frontdesk-Notification"] = str(message.notification_id)
        mail["X-Frontdesk-Kind"] = message.kind
        mail.set_content(message.body_text)
        if message.body_html is not None:
            mail.add_alternative(message.body_html, subtype="html")
        return mail

    async def send(self, message: Outgoing) -> None:
        """Return once the server answered 250 to the message's data."""
        s = self.settings
        try:
            refused, _ = await aiosmtplib.send(
                self.build(message),
                sender=parseaddr(s.sender)[1],
                recipients=list(message.recipients),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPException as exc:
            raise classify(exc) from exc
        except OSError as exc:
            raise DeliveryError(f"SMTP server unreachable: {exc!r}", permanent=False) from exc
        if refused:  # some recipients took it: the message reached the client
            log.warning("smtp.some_recipients_refused", refused=len(refused))


def classify(exc: aiosmtplib.SMTPException) -> DeliveryError:
    """Whether an SMTP failure is worth another try."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(f"recipients refused: {detail}", permanent=min(codes) >= 500)
    if isinstance(exc, CONFIGURATION_ERRORS):
        return DeliveryError(f"SMTP configuration: {exc}", permanent=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500)
    return DeliveryError(f"SMTP: {exc!r}", permanent=False)
