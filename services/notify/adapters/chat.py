"""Posts messages to chat incoming webhooks (Microsoft Teams, Slack): {"text": ...}.

Skype's place in the escalation chain. Webhook URLs come from the client's secretary book;
only https is accepted unless settings allow plain http (tests, development), and never an
address on a private or local network unless the settings allow it (see posting.py).

The text is typed by callers and operators, so nothing in it may act as markup in the chat:
`&`, `<` and `>` are escaped the way Slack asks (`<!channel>`, `<@U123>`, `<url|label>` and
Teams' `<at>` all need a `<`), and a word starting with `@` (`@channel`, `@here`, `@everyone`,
`@someone`) gets an invisible word joiner after the `@`, so no chat takes it for a mention.
E-mail addresses (`@` inside a word) are left as they are.
"""

from __future__ import annotations

import re

from services.notify.adapters.posting import post_json
from services.notify.delivery import DeliveryError, Outgoing
from services.notify.settings import NotifySettings

_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MENTION = re.compile(r"(?<!\w)@(?=\w)")
WORD_JOINER = "\u2060"


def chat_text(text: str) -> str:
    """Typed text as a chat webhook shows it: literally, with no markup and no mentions."""
    escaped = "".join(_MARKUP.get(char, char) for char in text.strip())
    return _MENTION.sub("@" + WORD_JOINER, escaped)


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
                {"text": chat_text(message.body_text)},
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
