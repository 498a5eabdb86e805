"""The telephony partner's side of a number: its voice webhook, set through Twilio's REST API.

Uses the `twilio` package (synchronous, on requests), run in a worker thread: look the number
up among the account's IncomingPhoneNumbers, then point its VoiceUrl at the bureau's webhook.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from requests import RequestException
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from libs.errors import Conflict

TIMEOUT_SECONDS = 10.0
"""How long one request to Twilio's API may take before the step is answered 503."""


class TwilioUnreachable(Exception):
    """Twilio's API did not answer (network, timeout, its 5xx): nothing was recorded."""


@dataclass(frozen=True)
class TwilioAccount:
    """Credentials and where the API lives (another base URL only for tests)."""

    account_sid: str
    auth_token: str
    api_base_url: str = "https://api.twilio.com"


async def set_voice_webhook(account: TwilioAccount, number: str, voice_url: str) -> None:
    """Point the number's voice webhook at `voice_url`; Conflict if Twilio refuses or lacks it,
    TwilioUnreachable if it does not answer in time. Setting the same URL again is harmless."""
    await asyncio.to_thread(_set_voice_webhook, account, number, voice_url)


def _set_voice_webhook(account: TwilioAccount, number: str, voice_url: str) -> None:
    http = TwilioHttpClient(timeout=TIMEOUT_SECONDS)
    client = Client(account.account_sid, account.auth_token, http_client=http)
    client.api.base_url = account.api_base_url
    try:
        found = client.incoming_phone_numbers.list(phone_number=number, limit=1)
        if not found:
            raise Conflict(f"the Twilio account has no number {number}: buy or port it first")
        client.incoming_phone_numbers(found[0].sid).update(voice_url=voice_url, voice_method="POST")
    except RequestException as exc:
        raise TwilioUnreachable(f"Twilio's API could not be reached: {exc}") from exc
    except TwilioException as exc:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status >= 500:
            raise TwilioUnreachable(f"Twilio's API answered {status}") from exc
        raise Conflict(f"Twilio refused to configure {number}: {exc}") from exc
