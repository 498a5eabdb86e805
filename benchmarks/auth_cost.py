"""What checking a bearer token costs per request: `GET /whoami` with a valid token vs anonymous.

Measured in one process, without network (ASGI in memory), on the shared ops routes every
service has, answering refusals as every service does. The token is a real one: a Keycloak
with the frontdesk realm is started in a temporary folder (from the download cache) unless
--issuer and --token name a running one. Both variants run interleaved in rounds, so drift of a
busy machine falls on both alike.

    ./run python benchmarks/auth_cost.py --requests 5000
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from libs.devstack.keycloak import CLIENT, REALM, LocalKeycloak, password_grant
from libs.platform.auth import TokenVerifier
from libs.platform.http import ops
from libs.platform.problems import install_outages, install_problems


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def api(issuer: str) -> FastAPI:
    """The ops routes with a verifier of the issuer's tokens."""
    app = FastAPI()
    install_problems(app)
    install_outages(app)
    app.include_router(ops)
    app.state.token_verifier = TokenVerifier(issuer, "frontdesk")
    return app


async def timings(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[float]:
    """Seconds each of n sequential GET /whoami took."""
    taken = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get("/whoami", headers=headers)
        taken.append(time.perf_counter() - started)
        response.raise_for_status()
    return taken


def summary(taken: list[float]) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 in microseconds."""
    cuts = statistics.quantiles(taken, n=100)
    return len(taken) / sum(taken), cuts[49] * 1e6, cuts[98] * 1e6


async def measure(issuer: str, token: str, n: int, rounds: int = 5) -> None:
    """Print both variants and their ratio."""
    transport = httpx.ASGITransport(app=api(issuer))
    variants: dict[str, dict[str, str]] = {
        "anonymous": {},
        "bearer token": {"Authorization": f"Bearer {token}"},
    }
    taken: dict[str, list[float]] = {name: [] for name in variants}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for headers in variants.values():
            await timings(client, headers, 50)  # warm-up: key set fetched, serializers built
        for _ in range(rounds):
            for name, headers in variants.items():
                taken[name] += await timings(client, headers, n // rounds)
    results = {name: summary(values) for name, values in taken.items()}
    for name, (rps, p50, p99) in results.items():
        print(f"{name:>13}: {rps:8.0f} req/s   p50 {p50:7.0f} us   p99 {p99:7.0f} us")
    anonymous, checked = results["anonymous"], results["bearer token"]
    print(f"token check: {anonymous[0] / checked[0]:.2f}x the time per request of anonymous")
    print(f"  p50 +{checked[1] - anonymous[1]:.0f} us, p99 +{checked[2] - anonymous[2]:.0f} us")


async def with_local_keycloak(n: int) -> None:
    """Start a Keycloak for the measurement, take an operator's token, measure, stop it."""
    with tempfile.TemporaryDirectory() as home:
        keycloak = LocalKeycloak(Path(home), port=free_port())
        print(f"Keycloak started in {await keycloak.start():.1f} s")
        try:
            async with httpx.AsyncClient(base_url=keycloak.url, timeout=30) as http:
                token = await password_grant(http, REALM, CLIENT, "operator-1", "operator-demo")
            await measure(keycloak.issuer(), token, n)
        finally:
            await keycloak.stop()


def main() -> None:
    """Parse the arguments and run the measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="per variant")
    parser.add_argument("--issuer", help="a running issuer (default: start a Keycloak)")
    parser.add_argument("--token", help="a valid access token of --issuer")
    args = parser.parse_args()
    if args.issuer and args.token:
        asyncio.run(measure(args.issuer, args.token, args.requests))
    else:
        asyncio.run(with_local_keycloak(args.requests))


if __name__ == "__main__":
    main()
