"""One chaos run from start to end: stack, set-up, traffic with faults, month end, checks."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from uuid import UUID

import httpx

from libs.devstack.chaos import checks
from libs.devstack.chaos.checks import Check
from libs.devstack.chaos.driver import Driver
from libs.devstack.chaos.evidence import Evidence, gather
from libs.devstack.chaos.faults import Faults
from libs.devstack.chaos.month import MonthEnd, close_month
from libs.devstack.chaos.plan import CLIENTS, ChaosOptions, Plan, make_plan
from libs.devstack.chaos.settle import Settled, settle, stale_clocks
from libs.devstack.chaos.traffic import Traffic, drive
from libs.devstack.chaos.world import Context, set_up
from libs.devstack.stack import Stack, StackOptions
from libs.devstack.supervisor import SupervisorPolicy

EXTERNAL = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "FRONTDESK_NOTIFY_SMTP_HOST")
HTTP_TIMEOUT = 10.0
SERVICE_ENV = MappingProxyType(
    {
        # Shorter waits than production so a run settles in seconds, same semantics.
        "FRONTDESK_RELAY_POLL_SECONDS": "0.2",
        "FRONTDESK_NOTIFY_SMTP_TIMEOUT_SECONDS": "5",
        "FRONTDESK_NOTIFY_HTTP_TIMEOUT_SECONDS": "5",
        "FRONTDESK_NOTIFY_RETRY_BASE_SECONDS": "0.25",
        "FRONTDESK_NOTIFY_LEASE_SECONDS": "20",
        "FRONTDESK_NOTIFY_SENDER_POLL_SECONDS": "0.5",
        "FRONTDESK_NOTIFY_SCHEDULE_SECONDS": "2",
    }
)
POLICY = SupervisorPolicy(unresponsive_after=20.0, startup_grace=90.0)


@dataclass
class ChaosRun:
    """Everything a run did and found; `ok` when every invariant held."""

    options: ChaosOptions
    home: Path
    ctx: Context
    faults: Faults
    traffic: Traffic = field(default_factory=Traffic)
    settles: list[Settled] = field(default_factory=list)
    stale_after_traffic: dict[str, str] = field(default_factory=dict)
    month: MonthEnd = field(default_factory=MonthEnd)
    evidence: Evidence | None = None
    checks: list[Check] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    progress: Callable[[str], None] = field(default=lambda _: None)
    """Told the name of each phase as it begins."""

    @property
    def ok(self) -> bool:
        """Every invariant was checked and held."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def plan(self) -> Plan:
        """What the run set out to do."""
        return self.ctx.plan

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Record how long a phase took (also when it fails)."""
        self.progress(phase)
        started = time.monotonic()
        try:
            yield
        finally:
            self.durations[phase] = time.monotonic() - started


async def run_chaos(
    options: ChaosOptions, progress: Callable[[str], None] | None = None
) -> ChaosRun:
    """Run the whole scenario on a stack of its own and check the invariants."""
    options.check()
    refuse_external()
    home = fresh_home(options.home)
    plan = make_plan(options)
    stack = Stack(stack_options(options, home, plan))
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, headers=stack.staff_headers) as http:
        ctx = Context(options, stack, Driver(http), Driver(http, patience=3), plan)
        run = ChaosRun(options, home, ctx, Faults(stack))
        if progress is not None:
            run.progress = progress
        try:
            with run.timed("total"):
                await _phases(run)
        finally:
            await stack.stop()
    return run


def refuse_external() -> None:
    """Refuse to run against a database, broker or mail relay named in the environment."""
    named = [name for name in EXTERNAL if os.environ.get(name)]
    if named:  # a run breaks its infrastructure on purpose: never someone else's
        raise ValueError(f"a chaos run starts its own infrastructure; unset {', '.join(named)}")


def fresh_home(home: Path | None) -> Path:
    """A new or empty folder for the run's stack (the invariants assume an empty database)."""
    if home is None:
        return Path(tempfile.mkdtemp(prefix="frontdesk-chaos-"))
    home = home.absolute()
    if home.exists() and any(home.iterdir()):
        raise ValueError(f"{home} is not empty; a chaos run needs a new folder")
    home.mkdir(parents=True, exist_ok=True)
    return home


def stack_options(options: ChaosOptions, home: Path, plan: Plan) -> StackOptions:
    """The stack of a run: simulated clock from the plan's start, shorter timeouts."""
    return StackOptions(
        home=home,
        port_offset=options.port_offset,
        kafka_port=options.kafka_port or 9092 + options.port_offset,
        clock="simulated",
        clock_start=plan.start,
        service_env=SERVICE_ENV,
    )


async def _phases(run: ChaosRun) -> None:
    ctx = run.ctx
    with run.timed("start"):
        await ctx.stack.start()
        ctx.stack.supervise(POLICY)
    with run.timed("set-up"):
        await set_up(ctx)
        run.settles.append(await settle(ctx, "after the set-up"))
    with run.timed("traffic"):
        run.traffic = await drive(ctx, run.faults)
    calls = list(run.traffic.accepted)
    with run.timed("settle"):
        run.settles.append(await settle(ctx, "after the traffic", calls))
        run.stale_after_traffic = await stale_clocks(ctx)
    with run.timed("month end"):
        run.month = await close_month(ctx, calls)
        run.settles += run.month.settled
    with run.timed("checks"):
        run.evidence = await gather(ctx, run.traffic, f"{run.options.day:%Y-%m}")
        run.checks = verdicts(run, run.evidence)


def verdicts(run: ChaosRun, ev: Evidence) -> list[Check]:
    """Every invariant of the run, in the order the report shows them."""
    supervisor = run.ctx.stack.supervisor
    return [
        checks.accepted_present(ev),
        checks.routed_once(ev),
        checks.mailed_once(ev, _per_call_clients(run.ctx)),
        checks.billed_once(ev),
        checks.one_digest_a_day(ev),
        checks.invoices_replay(ev),
        checks.invoice_run_idempotent(run.month),
        checks.no_stuck_outbox(ev),
        checks.no_stale_clock(_clock_looks(run, ev)),
        checks.no_server_errors([run.ctx.driver.tally, run.ctx.watcher.tally]),
        checks.no_dead_letters(ev),
        checks.all_settled(run.settles),
        checks.no_unplanned_exits(supervisor.restarts if supervisor else []),
    ]


def _clock_looks(run: ChaosRun, ev: Evidence) -> list[dict[str, str]]:
    """Every comparison of the services' clocks with the database's, in the order made."""
    month = list(run.month.stale.values())
    return [*run.traffic.clock_looks, run.stale_after_traffic, *month, ev.stale]


def _per_call_clients(ctx: Context) -> set[UUID]:
    return {ctx.client_id(spec) for spec in CLIENTS if spec.notification == "per_call"}
