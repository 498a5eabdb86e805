"""Every service times its HTTP requests by route template and status class, nothing more."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest

from tests.conftest import World
from tests.support.apps import STREAM_CHUNKS, STREAM_PAUSE
from tests.support.credentials import STAFF
from tests.support.pipeline import metric_value

pytestmark = [pytest.mark.infra]
HTTP_APP = "tests.support.apps:create_http_app"
SECONDS = "frontdesk_http_request_seconds"


async def test_requests_are_timed_by_route_template_and_status_class(world: World) -> None:
    service = world.process(HTTP_APP, "billing", "http")
    service.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
        for path in ("/items/1", "/items/2", "/items/not-a-number"):
            await http.get(path)
        assert (await http.post("/items/1")).status_code == 405
        strays = [f"/no-such-page-{uuid4().hex}" for _ in range(3)]
        for path in strays:
            assert (await http.get(path)).status_code == 404
        for _ in range(3):
            scraped = (await http.get("/metrics", headers=STAFF)).text
    url, count = service.url, f"{SECONDS}_count"
    item = {"service": "billing", "route": "/items/{item_id}"}
    assert metric_value(url, count, method="GET", status="2xx", **item) == 2
    assert metric_value(url, count, method="GET", status="4xx", **item) == 1
    assert metric_value(url, count, method="POST", status="4xx", **item) == 1
    assert metric_value(url, count, route="unmatched", status="4xx") == 3
    assert not any(path in scraped for path in strays), "a raw path became a label value"
    assert 'route="/metrics"' not in scraped, "scrapes are not timed"


async def test_a_streamed_body_passes_untouched_and_is_timed_to_its_end(world: World) -> None:
    service = world.process(HTTP_APP, "billing", "http")
    service.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
        response = await http.get("/stream")
    assert response.text == "".join(f"{i}\n" for i in range(STREAM_CHUNKS))
    stream = {"route": "/stream", "status": "2xx"}
    assert metric_value(service.url, f"{SECONDS}_count", **stream) == 1
    assert metric_value(service.url, f"{SECONDS}_sum", **stream) >= STREAM_CHUNKS * STREAM_PAUSE


async def test_a_route_that_raises_is_answered_500_and_counted_as_5xx(world: World) -> None:
    service = world.process(HTTP_APP, "billing", "http")
    service.start()
    for path, status in (("/boom", 500), ("/health/live", 200)):
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
            assert (await http.get(path)).status_code == status  # uvicorn closes after a crash
    boom = {"route": "/boom", "status": "5xx", "method": "GET"}
    assert metric_value(service.url, f"{SECONDS}_count", **boom) == 1
