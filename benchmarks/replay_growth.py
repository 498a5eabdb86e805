"""How a replay's cost grows with the log: time and peak memory at 100k, 1M and 10M events.

For each size the log is filled (calls of 1,000 clients with their digests and marks, as in
billing_replay.py) on the calls and intake topics of a local broker, then a fresh process
reads the whole log back, decodes every event and folds it into every client's billing facts
(what rebuilding billing from the log does), and reports its wall time and its peak resident
memory. The same fresh process first reads the log raw, which is the baseline: the ratio
says how much of the replay's time is Kafka's and how much is ours.

    ./run python benchmarks/replay_growth.py --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

from benchmarks.billing_replay import _free_port, _produce_events, events_for
from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.topics import ensure_topics
from libs.events import Event, decode
from libs.events.catalogue import topic_for
from libs.platform import kafka
from libs.platform.replay import read_log
from services.billing.domain.ledger import Ledger, fold

SERVICES = ("intake", "calls", "notify")


async def fill(bootstrap: str, prefix: str, calls: int) -> int:
    """Put `calls` calls (and what comes with them) on the log; returns the events put."""
    await ensure_topics(bootstrap, [topic_for(s, prefix) for s in SERVICES])  # type: ignore[arg-type]
    counted = 0

    def counting() -> Iterator[Event]:
        nonlocal counted
        for event in events_for(calls, clients=1000):
            counted += 1
            yield event

    await _produce_events(bootstrap, prefix, counting())
    return counted


async def replay(bootstrap: str, prefix: str) -> dict[str, float]:
    """In this (fresh) process: the raw read, then read + decode + fold; peak memory after."""
    topics = [topic_for(s, prefix) for s in SERVICES]  # type: ignore[arg-type]
    consumer = kafka.plain_consumer(bootstrap, client_id="bench-growth-raw")
    await consumer.start()
    try:
        started = time.perf_counter()
        records = 0
        async for _ in read_log(consumer, topics):
            records += 1
        raw = time.perf_counter() - started
    finally:
        await consumer.stop()
    raw_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    consumer = kafka.plain_consumer(bootstrap, client_id="bench-growth-replay")
    await consumer.start()
    try:
        started = time.perf_counter()
        ledger: Ledger = {}
        async for record in read_log(consumer, topics):  # streamed: one event at a time
            fold((decode(record.value),), ledger)
        took = time.perf_counter() - started
    finally:
        await consumer.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"records": records, "raw": raw, "replay": took, "clients": len(ledger),
            "raw_peak_mib": raw_peak / 1024, "peak_mib": peak / 1024}  # fmt: skip


async def run(sizes: list[int], home: Path) -> None:
    """Fill the log size by size and replay it in a fresh process each time."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    broker = LocalKafka(home / "kafka", port=_free_port(), controller_port=_free_port(),
                        cache_dir=default_cache_dir())  # fmt: skip
    if not bootstrap:
        print(f"broker started in {await broker.start():.1f} s", flush=True)
        bootstrap = broker.bootstrap_servers
    rows = []
    try:
        for calls in sizes:
            prefix = f"bench{uuid4().hex[:6]}"
            started = time.perf_counter()
            put = await fill(bootstrap, prefix, calls)
            print(f"{put:,} events on the log in {time.perf_counter() - started:.0f} s", flush=True)
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--replay-only", bootstrap, prefix,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await child.communicate()
            assert child.returncode == 0, f"the replay process ended with {child.returncode}"
            result = json.loads(out.decode().strip().splitlines()[-1])
            rows.append(result)
            print(_row(result), flush=True)
    finally:
        await broker.stop()
    print()
    print("| events | raw read | replay (read + decode + fold) | events/s | ratio to raw | "
          "peak memory |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['records']:,} | {r['raw']:.1f} s | {r['replay']:.1f} s | "
              f"{r['records'] / r['replay']:,.0f} | {r['raw'] / r['replay']:.2f} | "
              f"{r['peak_mib']:,.0f} MiB |")  # fmt: skip


def _row(r: dict[str, float]) -> str:
    return (f"  {r['records']:,} events: raw {r['raw']:.1f} s, replay {r['replay']:.1f} s "
            f"({r['records'] / r['replay']:,.0f}/s), peak {r['peak_mib']:,.0f} MiB")  # fmt: skip


def main() -> None:
    """Parse arguments; `--replay-only` is the fresh process's entry."""
    if len(sys.argv) == 4 and sys.argv[1] == "--replay-only":
        print(json.dumps(asyncio.run(replay(sys.argv[2], sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000],
                        help="calls per step (each brings about 11%% more events)")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as home:
        asyncio.run(run(args.sizes, Path(home)))


if __name__ == "__main__":
    main()
