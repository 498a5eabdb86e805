"""JSON POSTs to the SMS provider and chat webhooks, with their answers classified.

2xx is accepted. 408, 425 and 429 and every 5xx are worth another try; other 4xx (and
redirects, which are not followed) are permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from services.notify.delivery import DeliveryError

RETRYABLE = frozenset({408, 425, 429})


async def post_json(
    url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str], seconds: float, what: str
) -> None:
    """POST a JSON body; return on 2xx, raise DeliveryError otherwise."""
    try:
        async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
            response = await client.post(url, json=dict(payload), headers=dict(headers))
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what} unreachable: {exc!r}", permanent=False) from exc
    if response.is_success:
        return
    status = response.status_code
    permanent = status < 500 and status not in RETRYABLE
    raise DeliveryError(f"{what} answered {status}: {response.text[:300]}", permanent=permanent)
