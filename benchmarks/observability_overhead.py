"""What observing the services costs: HTTP timing per request, and /metrics as clients grow.

Measured in the same run, in one process, without network (ASGI in memory):

- requests: the same FastAPI route (a path parameter, a small JSON body) answered without
  middleware (baseline) and behind the HTTP latency middleware every service has;
- exposition: `generate_latest()` of the process's registry with the plumbing metrics only
  (baseline), then with calls' per-client series filled in for N clients (received open and
  closed, answered, voicemail, transferred, the client info gauge): size and time per scrape.

    ./run python benchmarks/observability_overhead.py --requests 5000 --clients 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from uuid import uuid4

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY, generate_latest

from libs.platform import metrics as plumbing
from libs.platform.latency import RequestLatency
from services.calls import metrics as calls


def api(*, timed: bool) -> FastAPI:
    """A route shaped like the operators' most frequent call, optionally timed."""
    app = FastAPI()

    @app.get("/calls/{call_id}")
    async def read_call(call_id: str) -> dict[str, str]:
        return {"call_id": call_id, "stage": "answered"}

    if timed:
        app.add_middleware(RequestLatency, service="bench")
    return app


async def requests_per_second(app: FastAPI, n: int) -> float:
    """Sequential GETs through httpx's in-memory ASGI transport."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(50):  # warm-up: routing tables, pydantic serializers
            await client.get(f"/calls/{uuid4()}")
        started = time.perf_counter()
        for _ in range(n):
            (await client.get(f"/calls/{uuid4()}")).raise_for_status()
        return n / (time.perf_counter() - started)


def scrape(rounds: int = 20) -> tuple[int, float]:
    """Bytes of one /metrics page and the mean seconds to render it."""
    started = time.perf_counter()
    for _ in range(rounds):
        page = generate_latest(REGISTRY)
    return len(page), (time.perf_counter() - started) / rounds


def fill_plumbing() -> None:
    """The series one running service has: its consumers, relay and some HTTP routes."""
    for topic in ("frontdesk.intake.v1", "frontdesk.calls.v1"):
        plumbing.EVENTS_CONSUMED.labels("calls", topic, "handled").inc()
        for partition in range(6):
            plumbing.CONSUMER_LAG.labels("calls", topic, str(partition)).set(0)
    for route in ("/calls", "/calls/{call_id}", "/calls/{call_id}/answer", "/lines/{number}"):
        plumbing.HTTP_REQUEST_SECONDS.labels("calls", "POST", route, "2xx").observe(0.01)


def fill_clients(n: int) -> None:
    """Every per-client series of calls, for n clients."""
    for i in range(n):
        client = str(uuid4())
        for office in ("open", "closed"):
            calls.CALLS_RECEIVED.labels(client, office).inc()
        calls.CALLS_ANSWERED.labels(client).inc()
        calls.VOICEMAILS.labels(client).inc()
        calls.TRANSFERS.labels(client).inc()
        calls.CLIENT_INFO.labels(client, f"Client {i} B.V.").set(1)


async def main() -> None:
    """Run both measurements and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()
    bare = await requests_per_second(api(timed=False), args.requests)
    timed = await requests_per_second(api(timed=True), args.requests)
    print(f"requests, no middleware (baseline): {bare:,.0f}/s")
    print(f"requests, timed by route:           {timed:,.0f}/s  ratio {timed / bare:.3f}")
    plumbing.configure_exposition()  # as every service does
    fill_plumbing()
    base_size, base_seconds = scrape()
    fill_clients(args.clients)
    size, seconds = scrape()
    print(f"/metrics, plumbing only (baseline): {page(base_size, base_seconds)}")
    print(
        f"/metrics, + {args.clients:,} clients:       {page(size, seconds)}"
        f"  ratio {size / base_size:.1f}x size, {seconds / base_seconds:.1f}x time"
    )


def page(size: int, seconds: float) -> str:
    """A page's size and render time, for people."""
    return f"{size / 1024:,.1f} KiB, {seconds * 1000:.2f} ms"


if __name__ == "__main__":
    asyncio.run(main())
