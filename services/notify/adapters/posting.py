"""JSON POSTs to the SMS provider and chat webhooks, with their answers classified.

2xx is accepted. 408, 425 and 429 and every 5xx are worth another try; other 4xx (and
redirects, which are not followed) are permanent. A URL leading to a private, loopback or
link-local address (not allowed by the settings) is permanent before anything is connected;
resolving, connecting and the answer together take at most `seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from libs.platform.outbound import OutboundPolicy, OutboundRefused, post_pinned
from services.notify.delivery import DeliveryError

RETRYABLE = frozenset({408, 425, 429})


async def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    seconds: float,
    what: str,
    policy: OutboundPolicy,
) -> None:
    """POST a JSON body; return on 2xx, raise DeliveryError otherwise."""
    try:
        async with (
            asyncio.timeout(seconds),
            httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client,
        ):
            response = await post_pinned(client, url, policy, json=dict(payload), headers=headers)
    except OutboundRefused as exc:
        raise DeliveryError(f"{what} not allowed: {exc}", permanent=True) from exc
    except (httpx.HTTPError, TimeoutError) as exc:
        raise DeliveryError(f"{what} unreachable: {exc!r}", permanent=False) from exc
    if response.is_success:
        return
    status = response.status_code
    permanent = status < 500 and status not in RETRYABLE
    raise DeliveryError(f"{what} answered {status}: {response.text[:300]}", permanent=permanent)
