"""Sends SMS through the provider's HTTP API: a JSON POST with a bearer token.

Body: {"to", "from", "text", "reference"}; the reference (and the Idempotency-Key header) is
the notification id, so a provider that deduplicates can drop a repeated send.
"""

from __future__ import annotations

from services.notify.adapters.posting import post_json
from services.notify.delivery import DeliveryError, Outgoing
from services.notify.settings import NotifySettings


class SmsTransport:
    """Hands text messages to the configured SMS provider."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    async def send(self, message: Outgoing) -> None:
        """Return once the provider accepted the message for every recipient."""
        s = self.settings
        if s.sms_url is None:
            raise DeliveryError(
                "no SMS provider configured (FRONTDESK_NOTIFY_SMS_URL)", permanent=True
            )
        for number in message.recipients:
            payload = {
                "to": number,
                "from": s.sms_sender,
                "text": message.body_text.strip(),
                "reference": str(message.notification_id),
            }
            await post_json(
                s.sms_url,
                payload,
                headers=self._headers(f"{message.notification_id}:{number}"),
                seconds=s.http_timeout_seconds,
                policy=s.outbound_policy,
                what="SMS provider",
            )

    def _headers(self, idempotency_key: str) -> dict[str, str]:
        headers = {"Idempotency-Key": idempotency_key}
        if self.settings.sms_token is not None:
            headers["Authorization"] = f"Bearer {self.settings.sms_token.get_secret_value()}"
        return headers
