"""HTTP latency under a constant request rate: the screen pop, POST /calls, Twilio's voice webhook.

Starts the whole local stack (PostgreSQL, Kafka, SMTP and the seven service processes, as
`./run stack` does, on ports of its own), registers the demo client through intake's API,
calls with the bureau's staff key (--credential operator: an operator API key issued for the
client, tenant-bound, checked against the service's own table of keys per request), and drives
the services with vegeta (libs/devstack/vegeta.py builds it) at constant rates: an open
model, a slow answer does not hold the next request back.

Baseline, measured in the same run against the same process: `GET /health/live`, the bare
endpoint (no credential, no database). The screen pop's constant-rate steps run right after
the baseline's at each rate; both then run flat out (a fixed number of concurrent requests)
for their maximum rate, and the ratio screen pop / bare is printed. POST /calls and the
webhook run while routing, notify and billing consume what calls publishes; after each step
the script waits until calls' outbox is empty and every consumer of calls' topic has caught
up, and prints how long that took and the largest backlog seen during the step.

The per-credential rate limit is raised for the run (FRONTDESK_RATE_LIMIT): one key sends
more than an operator console ever would. Everything else runs as configured by default.

    ./run python benchmarks/http_load.py
    ./run python benchmarks/http_load.py --only screen --rates 100,500 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from libs.devstack.demo import DEMO_NUMBER, seed_demo
from libs.devstack.stack import Stack, StackOptions
from libs.devstack.vegeta import ensure_vegeta
from libs.platform.settings import DEFAULT_PORTS
from libs.twilio import SIGNATURE_HEADER, compute_signature

TWILIO_TOKEN = secrets.token_hex(16)
SERVICE_ENV = {
    "FRONTDESK_RATE_LIMIT": "1000000/second",
    "FRONTDESK_CALLS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
}
FLAT_OUT_CONCURRENCY = 32
"""Requests in flight at once when an endpoint runs flat out (its maximum rate)."""
CALLS_TOPIC_SUFFIX = ".calls.v1"


@dataclass(frozen=True)
class Step:
    """One vegeta run's figures: what was asked, what came back, how fast."""

    name: str
    requested: float
    achieved: float
    success: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    codes: dict[str, int]

    def line(self) -> str:
        """The step as one row of the report."""
        asked = "max" if self.requested == 0 else f"{self.requested:.0f}"
        codes = ",".join(f"{code}:{n}" for code, n in sorted(self.codes.items()))
        return (
            f"{self.name:<14} {asked:>6} {self.achieved:9.1f} {self.success * 100:7.2f}% "
            f"{self.p50_ms:8.2f} {self.p99_ms:9.2f} {self.max_ms:9.1f}  {codes}"
        )


HEADER = (
    f"{'endpoint':<14} {'rate':>6} {'achieved':>9} {'success':>8} {'p50 ms':>8} "
    f"{'p99 ms':>9} {'max ms':>9}  status codes"
)


class Vegeta:
    """Runs vegeta attacks from JSON target files and reads their reports."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary, self.home = binary, home
        self.runs = 0

    def attack(
        self, name: str, targets: Iterable[dict[str, Any]], *, rate: int, seconds: float
    ) -> Step:
        """Send the targets at `rate` per second (0: flat out) for `seconds`."""
        slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
        self.runs += 1
        target_file = self.home / f"{self.runs:02d}-{slug}-{rate}.targets"
        with target_file.open("w") as out:
            out.writelines(json.dumps(target) + "\n" for target in targets)
        results = target_file.with_suffix(".bin")
        pace = (
            ["-rate=0", f"-workers={FLAT_OUT_CONCURRENCY}", f"-max-workers={FLAT_OUT_CONCURRENCY}"]
            if rate == 0
            else [f"-rate={rate}/1s", "-workers=20", "-max-workers=2000"]
        )
        command = [str(self.binary), "attack", "-format=json", f"-targets={target_file}"]
        with results.open("wb") as out:
            subprocess.run(
                [*command, *pace, f"-duration={seconds}s", "-timeout=10s"], stdout=out, check=True
            )
        report = subprocess.run(
            [str(self.binary), "report", "-type=json", str(results)],
            capture_output=True,
            check=True,
            text=True,
        )
        return step_of(name, rate, json.loads(report.stdout))


def step_of(name: str, rate: int, report: dict[str, Any]) -> Step:
    """A step from vegeta's JSON report (latencies in nanoseconds)."""
    latencies = report["latencies"]
    return Step(
        name=name,
        requested=rate,
        achieved=report["throughput"],
        success=report["success"],
        p50_ms=latencies["50th"] / 1e6,
        p99_ms=latencies["99th"] / 1e6,
        max_ms=latencies["max"] / 1e6,
        codes=report["status_codes"],
    )


def get(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A GET target of vegeta's JSON format."""
    return {"method": "GET", "url": url, "header": {k: [v] for k, v in (headers or {}).items()}}


def post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A POST target of vegeta's JSON format (the body base64, as vegeta reads it)."""
    return {
        "method": "POST",
        "url": url,
        "body": base64.b64encode(body).decode(),
        "header": {k: [v] for k, v in headers.items()},
    }


def caller_number(i: int) -> str:
    """A Dutch mobile number for the i-th caller."""
    return f"+3161{i % 10_000_000:07d}"


def receive_call_targets(calls_url: str, key: str, n: int) -> Iterator[dict[str, Any]]:
    """n POST /calls, each with its own Idempotency-Key, as an operator console sends them."""
    for i in range(n):
        body = json.dumps({"dialled_number": DEMO_NUMBER, "caller_number": caller_number(i)})
        headers = {
            "X-Api-Key": key,
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-{secrets.token_hex(12)}",
        }
        yield post(f"{calls_url}/calls", body.encode(), headers)


def voice_webhook_targets(calls_url: str, n: int) -> Iterator[dict[str, Any]]:
    """n signed Twilio voice webhooks, each a new CallSid (a new call)."""
    url = f"{calls_url}/calls/twilio/voice"
    for i in range(n):
        params = [
            ("CallSid", f"CA{secrets.token_hex(16)}"),
            ("From", caller_number(i)),
            ("To", DEMO_NUMBER),
        ]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: compute_signature(TWILIO_TOKEN, url, params),
        }
        yield post(url, urlencode(params).encode(), headers)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset() -> int:
    """A port offset leaving the stack's service ports, SMTP ports and Kafka's two free."""
    for offset in range(20_000, 40_000, 100):
        ports = [p + offset for p in DEFAULT_PORTS.values()]
        ports += [1025 + offset, 2525 + offset, 9092 + offset, 9093 + offset]
        if all(_free(port) for port in ports):
            return offset
    raise RuntimeError("no free block of ports for the stack")


async def operator_key(stack: Stack, client_id: str) -> str:
    """An operator API key for the client, once calls accepts it (it learns keys from Kafka)."""
    async with httpx.AsyncClient(timeout=10, headers=stack.staff_headers) as http:
        issued = await http.post(
            f"{stack.url('intake')}/api-keys",
            json={"client_id": client_id, "role": "operator", "name": "benchmark console"},
        )
        issued.raise_for_status()
        key: str = issued.json()["key"]
        deadline = time.monotonic() + 60
        headers = {"X-Api-Key": key}
        while (await http.get(f"{stack.url('calls')}/whoami", headers=headers)).status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("calls did not learn the operator key in time")
            await asyncio.sleep(0.3)
    return key


def screen_pop_steps(
    vegeta: Vegeta, intake_url: str, key: str, rates: list[int], seconds: float
) -> list[Step]:
    """The bare endpoint and the screen pop at each rate, then both flat out."""
    bare = [get(f"{intake_url}/health/live")]
    pop = [get(f"{intake_url}/numbers/{DEMO_NUMBER}", {"X-Api-Key": key})]
    vegeta.attack("warm-up", pop, rate=100, seconds=3)
    steps = []
    for rate in rates:
        for name, targets in (("/health/live", bare), ("screen pop", pop)):
            steps.append(vegeta.attack(name, targets, rate=rate, seconds=seconds))
            print(steps[-1].line(), flush=True)
    for name, targets in (("/health/live", bare), ("screen pop", pop)):
        steps.append(vegeta.attack(name, targets, rate=0, seconds=seconds))
        print(steps[-1].line(), flush=True)
    return steps


async def backlog(stack: Stack) -> int:
    """Calls' outbox rows not yet published plus what consumers of calls' topic have not read."""
    total = 0
    async with httpx.AsyncClient(timeout=5, headers=stack.metrics_headers) as http:
        for svc in stack.services:
            text = (await http.get(f"{svc.url}/metrics")).text
            total += sum(backlog_lines(text, svc.service))
    return total


def backlog_lines(text: str, service: str) -> Iterator[int]:
    """The calls-related backlog figures of one service's /metrics page."""
    for line in text.splitlines():
        calls_lag = line.startswith("frontdesk_consumer_lag{") and CALLS_TOPIC_SUFFIX in line
        outbox = service == "calls" and line.startswith('frontdesk_outbox_backlog{service="calls"')
        if calls_lag or outbox:
            yield int(float(line.rsplit(" ", 1)[1]))


async def call_step(
    stack: Stack, vegeta: Vegeta, name: str, targets: list[dict[str, Any]], rate: int, secs: float
) -> tuple[Step, int, float]:
    """One constant-rate step, its largest backlog, and the seconds it took to drain after."""
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await backlog(stack))
            await asyncio.sleep(1)

    watcher = asyncio.create_task(watch())
    step = await asyncio.to_thread(vegeta.attack, name, targets, rate=rate, seconds=secs)
    done.set()
    await watcher
    ended = time.monotonic()
    while await backlog(stack) > 0:
        if time.monotonic() - ended > 120:
            return step, peak, float("inf")
        await asyncio.sleep(0.5)
    return step, peak, time.monotonic() - ended


async def calls_steps(
    stack: Stack, vegeta: Vegeta, key: str, rates: list[int], seconds: float
) -> list[str]:
    """POST /calls and the voice webhook at each rate, with the consumers' backlog."""
    calls_url = stack.url("calls")
    lines = []
    for rate in rates:
        n = int(rate * seconds) + rate
        for name, targets in (
            ("POST /calls", list(receive_call_targets(calls_url, key, n))),
            ("twilio voice", list(voice_webhook_targets(calls_url, n))),
        ):
            step, peak, drained = await call_step(stack, vegeta, name, targets, rate, seconds)
            lines.append(f"{step.line()}  backlog peak {peak}, drained {drained:.1f} s after")
            print(lines[-1], flush=True)
    return lines


def summary(steps: list[Step]) -> None:
    """The ratios the issue's goals are stated in."""
    flat = {s.name: s for s in steps if s.requested == 0}
    if len(flat) == 2:
        bare, pop = flat["/health/live"].achieved, flat["screen pop"].achieved
        print(f"max rate: /health/live {bare:.0f} req/s, screen pop {pop:.0f} req/s")
        print(f"ratio screen pop / bare max rate: {pop / bare:.3f}")
    for step in steps:
        if step.name == "screen pop" and step.requested:
            bare_step = next(
                s for s in steps if s.name == "/health/live" and s.requested == step.requested
            )
            print(
                f"at {step.requested:.0f}/s: screen pop p99 {step.p99_ms:.2f} ms, "
                f"{step.p99_ms / bare_step.p99_ms:.2f}x the bare endpoint's"
            )


async def run(args: argparse.Namespace, home: Path) -> None:
    """Start the stack, seed it, measure, stop it."""
    vegeta = Vegeta(await asyncio.to_thread(ensure_vegeta), home)
    offset = free_offset()
    options = StackOptions(
        home=home / "stack",
        port_offset=offset,
        kafka_port=9092 + offset,
        topic_prefix=f"bench{secrets.token_hex(3)}",
        service_env=SERVICE_ENV,
    )
    stack = Stack(options)
    started = time.monotonic()
    try:
        await stack.start()
        demo = await seed_demo(stack.url("intake"), stack.url("calls"), stack.staff_headers)
        if args.credential == "operator":
            key = await operator_key(stack, demo.client_id)
            what = "an operator API key of the demo client (checked in each service's table)"
        else:
            key, what = stack.staff_key, "the bureau's staff key (FRONTDESK_AUTH_STAFF_KEYS_SHA256)"
        took = time.monotonic() - started
        print(f"stack ready in {took:.0f} s (port offset {offset}), logs in {options.home}/logs")
        print(f"credential (X-Api-Key): {what}")
        await measure(stack, vegeta, key, args)
    finally:
        await stack.stop()


async def measure(stack: Stack, vegeta: Vegeta, key: str, args: argparse.Namespace) -> None:
    """The parts of the benchmark that --only selects."""
    if args.only in ("all", "screen"):
        print(f"\nintake, {args.duration:.0f} s per step\n{HEADER}")
        rates = [int(r) for r in args.rates.split(",")]
        with profiled(stack, "intake", args.profile):
            steps = await asyncio.to_thread(
                screen_pop_steps, vegeta, stack.url("intake"), key, rates, args.duration
            )
        summary(steps)
    if args.only in ("all", "calls"):
        print(f"\ncalls, {args.call_duration:.0f} s per step\n{HEADER}")
        rates = [int(r) for r in args.call_rates.split(",")]
        with profiled(stack, "calls", args.profile):
            await calls_steps(stack, vegeta, key, rates, args.call_duration)


@contextmanager
def profiled(stack: Stack, service: str, folder: Path | None) -> Iterator[None]:
    """With a folder: py-spy samples the service's process meanwhile (collapsed stacks)."""
    spy = shutil.which("py-spy")
    if folder is None or spy is None:
        if folder is not None:
            print("no py-spy on PATH: not profiling (uv run --with py-spy ...)")
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{service}.collapsed"
    pid = str(stack.service(service).proc.pid)
    command = [spy, "record", "--pid", pid, "--format", "raw", "--rate", "200", "-o", str(out)]
    proc = subprocess.Popen([*command, "--nonblocking"], stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        print(f"profile of {service}: {out}")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["all", "screen", "calls"], default="all")
    parser.add_argument("--rates", default="100,250,500,750", help="screen pop, req/s")
    parser.add_argument("--duration", type=float, default=15, help="seconds per screen step")
    parser.add_argument("--call-rates", default="50,100,150", help="calls/s")
    parser.add_argument("--call-duration", type=float, default=15, help="seconds per call step")
    parser.add_argument(
        "--credential",
        choices=["staff", "operator"],
        default="staff",
        help="X-Api-Key sent: the configured staff key, or an operator key issued for the client",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles to this folder")
    args = parser.parse_args()
    if args.keep:
        home = Path(tempfile.mkdtemp(prefix="frontdesk-load-"))
        print(f"stack folder: {home}")
        asyncio.run(run(args, home))
        return
    with tempfile.TemporaryDirectory(prefix="frontdesk-load-") as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
