"""How a replay's cost grows with the log: time and peak memory at 100k, 1M and 10M events.

For each size the log is filled (calls of 1,000 clients with their digests and marks, as in
billing_replay.py) on the intake, calls and notify topics of a local broker. Then a fresh
process reads the log raw (the baseline), replays one client's month the way a billing dispute
does (its partitions only), and finally reads the whole log back, decoding every event and
folding it into every client's billing facts in memory. It reports each one's wall time and
the process's peak resident memory after each.

    ./run python benchmarks/replay_growth.py --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

from benchmarks.billing_replay import _produce_events, events_for
from libs.devstack.kafka import broker_for
from libs.devstack.topics import ensure_topics
from libs.events import Event, decode
from libs.events.catalogue import topic_for
from libs.platform import collector, kafka
from libs.platform.replay import read_log
from services.billing.domain.ledger import Ledger, fold
from services.billing.replays import replay_from_log

SERVICES = ("intake", "calls", "notify")
LOG = (*SERVICES, "billing")  # a dispute replay reads billing's topic too
FOLDED_BYTES_PER_EVENT = 3000
"""About what an event costs once folded into everyone's facts in memory (measured at 1M:
the facts keep the events). A step whose fold would not fit in memory is skipped and says so."""


async def fill(bootstrap: str, prefix: str, calls: int) -> int:
    """Put `calls` calls (and what comes with them) on the log; returns the events put."""
    await ensure_topics(bootstrap, [topic_for(s, prefix) for s in LOG])  # type: ignore[arg-type]
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
    started = time.perf_counter()
    disputed = await _one_client(bootstrap, topics[0])
    dispute, read = await replay_from_log(bootstrap, prefix, disputed, "2026-01", None)
    one = time.perf_counter() - started
    one_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    needed = records * FOLDED_BYTES_PER_EVENT
    if needed > 0.6 * _available_bytes():
        return {"records": records, "raw": raw, "replay": float("nan"), "clients": 0,
                "raw_peak_mib": raw_peak / 1024, "peak_mib": needed / 2**20,
                "dispute": one, "dispute_read": read, "dispute_used": dispute.events_used,
                "dispute_peak_mib": one_peak / 1024, "skipped": 1}  # fmt: skip
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
            "raw_peak_mib": raw_peak / 1024, "peak_mib": peak / 1024,
            "dispute": one, "dispute_read": read, "dispute_used": dispute.events_used,
            "dispute_peak_mib": one_peak / 1024}  # fmt: skip


def _available_bytes() -> int:
    """MemAvailable of this machine (Linux)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 2**62


async def _one_client(bootstrap: str, intake_topic: str) -> UUID:
    """The client of the first registration on the log: the one whose month is disputed."""
    consumer = kafka.plain_consumer(bootstrap, client_id="bench-growth-pick")
    await consumer.start()
    try:
        async for record in read_log(consumer, [intake_topic]):
            return decode(record.value).client_id
    finally:
        await consumer.stop()
    raise AssertionError("no registration on the log")


async def run(sizes: list[int], home: Path) -> None:
    """Fill the log size by size and replay it in a fresh process each time."""
    rows = []
    async with broker_for(home) as bootstrap:
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
    print()
    print("| events | raw read | one client's dispute replay (records read) | its peak memory "
          "| everyone folded in memory | events/s | ratio to raw | peak memory |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['records']:,} | {r['raw']:.1f} s | {r['dispute']:.2f} s "
              f"({r['dispute_read']:,}) | {r['dispute_peak_mib']:,.0f} MiB | {r['replay']:.1f} s | "
              f"{r['records'] / r['replay']:,.0f} | {r['raw'] / r['replay']:.2f} | "
              f"{r['peak_mib']:,.0f} MiB |")  # fmt: skip


def _row(r: dict[str, float]) -> str:
    if r.get("skipped"):
        return (f"  {r['records']:,} events: raw {r['raw']:.1f} s, one client's dispute replay "
                f"{r['dispute']:.2f} s; everyone folded in memory skipped: it would need about "
                f"{r['peak_mib'] / 1024:,.0f} GiB")  # fmt: skip
    return (f"  {r['records']:,} events: raw {r['raw']:.1f} s, one client's dispute replay "
            f"{r['dispute']:.2f} s, everyone folded {r['replay']:.1f} s "
            f"({r['records'] / r['replay']:,.0f}/s), peak {r['peak_mib']:,.0f} MiB")  # fmt: skip


def main() -> None:
    """Parse arguments; `--replay-only` is the fresh process's entry."""
    if len(sys.argv) == 4 and sys.argv[1] == "--replay-only":
        collector.settle_after_start()  # as a service process runs (libs/platform/serve.py)
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
