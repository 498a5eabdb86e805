"""The tables a chaos run prints: its figures, its invariants, and errors from the logs."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from rich.table import Table

from libs.devstack.chaos.driver import Tally
from libs.devstack.chaos.scenario import ChaosRun

LOG_EXAMPLES = 4
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Failure)\b")
"""The last line of a traceback: the exception and its message."""


def figures(run: ChaosRun) -> Table:
    """The run's figures: what was driven, broken, seen, mailed and invoiced."""
    table = Table(title=f"Chaos run, seed {run.options.seed}")
    table.add_column("figure")
    table.add_column("value", overflow="fold")
    for name, value in (
        _traffic_rows(run) + _fault_rows(run) + _answer_rows(run) + _result_rows(run)
    ):
        table.add_row(name, value)
    table.add_row("durations (s)", _durations(run.durations))
    table.add_row("stack home (logs, Maildir)", str(run.home))
    return table


def _traffic_rows(run: ChaosRun) -> list[tuple[str, str]]:
    t, ev = run.traffic, run.evidence
    orphans = len(ev.listed - set(t.accepted)) if ev else 0
    driven = f"{len(run.plan.calls)} / {len(t.accepted)} / {len(t.unknown)}"
    return [
        ("calls driven / accepted / unknown", driven),
        ("calls refused (POST /calls not 201)", _counted(t.refused)),
        ("calls left incomplete (a step failed)", _counted(t.incomplete)),
        ("first failed answers", "; ".join(t.examples) or "none"),
        ("clock steps / failed", f"{len(run.plan.clock_steps)} / {'; '.join(t.clock_errors) or 0}"),
        ("calls recorded that the driver has no id for", str(orphans)),
    ]  # fmt: skip


def _fault_rows(run: ChaosRun) -> list[tuple[str, str]]:
    done, down = run.faults.done, run.faults.outage_seconds
    supervisor = run.ctx.stack.supervisor
    restarts = "none"
    if supervisor is not None:
        restarts = (
            f"after SIGKILL {supervisor.count('exited', killed=True)}, other exits "
            f"{supervisor.count('exited', killed=False)}, unresponsive "
            f"{supervisor.count('unresponsive')}"
        )
    kills = f"{done['kills']} / {run.options.kills} (missed {done['kills_missed']})"
    return [
        ("kills (SIGKILL) done / planned", kills),
        ("broker stops (down in total)", f"{done['broker_stops']} ({down['broker']:.0f} s)"),
        ("PostgreSQL restarts (down)", f"{done['pg_restarts']} ({down['postgres']:.0f} s)"),
        ("supervisor restarts", restarts),
        ("fault errors", "; ".join(run.faults.errors) or "none"),
    ]  # fmt: skip


def _answer_rows(run: ChaosRun) -> list[tuple[str, str]]:
    tally: Tally = run.ctx.driver.tally
    unavailable = f"{tally.statuses['503']} ({tally.unavailable_without_retry_after})"
    return [
        ("statuses seen (driver)", _statuses(tally.statuses)),
        ("503s (without Retry-After)", unavailable),
        ("retries / requests given up", f"{tally.retries} / {tally.gave_up}"),
        ("statuses seen (readiness and clock polls)", _statuses(run.ctx.watcher.tally.statuses)),
    ]  # fmt: skip


def _result_rows(run: ChaosRun) -> list[tuple[str, str]]:
    ev = run.evidence
    if ev is None:
        return [("results", "not read: the run stopped early")]
    box = ev.mailbox
    totals = sum(int(i["total_cents"]) for i in ev.invoices)
    mails = f"{len(box.deliveries)} / {sum(box.deliveries.values())}"
    return [
        ("mails: distinct Message-IDs / deliveries", mails),
        ("duplicate Message-IDs (repeated deliveries)", str(box.repeated)),
        ("digests sent", str(sum(1 for d in ev.digests if d.state == "sent"))),
        ("invoices (total)", f"{len(ev.invoices)} (EUR {totals / 100:.2f})"),
        ("replays", str(len(ev.replays))),
    ]  # fmt: skip


def _counted(found: Counter[str]) -> str:
    total = sum(found.values())
    return f"{total} ({_statuses(found)})" if total else "0"


def _statuses(found: Counter[str]) -> str:
    return ", ".join(f"{status}: {n}" for status, n in sorted(found.items())) or "none"


def _durations(durations: dict[str, float]) -> str:
    return ", ".join(f"{phase} {seconds:.0f}" for phase, seconds in durations.items())


def invariants(run: ChaosRun) -> Table:
    """Each invariant with its verdict and figures."""
    table = Table(title="Invariants")
    table.add_column("invariant")
    table.add_column("result")
    table.add_column("figures", overflow="fold")
    for check in run.checks:
        verdict = "[green]pass[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(check.name, verdict, check.detail)
    return table


def log_errors(logs: Path) -> Table:
    """Errors and tracebacks in the services' logs, most frequent first."""
    table = Table(title=f"Errors in {logs}")
    table.add_column("log")
    table.add_column("times")
    table.add_column("example", overflow="fold")
    for (log, _), (count, example) in _errors(logs).most_common_examples(LOG_EXAMPLES):
        table.add_row(log, str(count), example)
    return table


class _Found:
    """Error lines grouped by log and kind, with one example each."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], str] = {}

    def add(self, log: str, key: str, line: str) -> None:
        """Count one error line of a log."""
        self.counts[log, key] += 1
        self.examples.setdefault((log, key), line[:400])

    def most_common_examples(self, per_log: int) -> list[tuple[tuple[str, str], tuple[int, str]]]:
        """The most frequent kinds, at most `per_log` of each log, with their examples."""
        shown: Counter[str] = Counter()
        found = []
        for key, count in self.counts.most_common():
            if shown[key[0]] < per_log:
                shown[key[0]] += 1
                found.append((key, (count, self.examples[key])))
        return found


def _errors(logs: Path) -> _Found:
    found = _Found()
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            key = _error_key(line)
            if key is not None:
                found.add(path.stem, key, line)
    return found


def _error_key(line: str) -> str | None:
    """What kind of error a log line reports, or None for other lines."""
    try:
        entry = json.loads(line)
    except ValueError:
        uvicorn = line.startswith("ERROR:") and "Traceback" not in line
        return line[:80] if uvicorn or EXCEPTION_LINE.match(line) else None
    if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
        return None
    return f"{entry.get('event')} {str(entry.get('error', ''))[:60]}"
