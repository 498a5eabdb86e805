"""Posts messages to chat incoming webhooks (Microsoft Teams, Slack): {"text": ...}.

Skype's place in the escalation chain. Webhook URLs come from the client's secretary book;
only https is accepted unless settings allow plain http (tests, development), and never an
address on a private or local network unless the settings allow it (see posting.py).
"""

from __future__ import annotations

from services.notify.adapters.posting import post_json
from services.notify.delivery import DeliveryError, Outgoing
from services.notify.settings import NotifySettings


class ChatTransport:
    """Posts a message to each webhook the notification names."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    async def send(self, message: Outgoing) -> None:
        """Return once every webhook accepted the message."""
        for url in message.recipients:
            self._check(url)
            await post_json(
                url,
                {"text": message.body_text.strip()},
                headers={"Idempotency-Key": str(message.notification_id)},
                seconds=self.settings.http_timeout_seconds,
                policy=self.settings.outbound_policy,
                what="chat webhook",
            )

    def _check(self, url: str) -> None:
        if url.startswith("https://"):
            return
        if self.settings.chat_allow_http and url.startswith("http://"):
            return
        raise DeliveryError("chat webhooks must use https", permanent=True)
