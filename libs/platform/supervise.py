"""Background tasks that never die silently: each restarts itself with backoff on any error.

A service runs its relay, consumers, timers, schedulers and listeners as supervised tasks.
A task that raises is logged, waits a jittered, growing delay and runs again. Readiness names
every task that is not running; a task that keeps failing for reasons other than an outage of
PostgreSQL makes liveness fail, so an orchestrator restarts the whole process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from libs.platform.metrics import TASK_RESTARTS
from libs.platform.outages import backoff, is_outage, sleep_or_stop

log = structlog.get_logger(__name__)
Loop = Callable[[asyncio.Event], Awaitable[None]]
"""A long-running loop: it runs until the event is set, then returns."""
HEALTHY_AFTER_SECONDS = 30.0
"""A run that lasted this long was a success: the failure count starts again from zero."""


class TaskState(StrEnum):
    """Where a supervised task is."""

    RUNNING = "running"
    RESTARTING = "restarting"
    DONE = "done"
    STOPPED = "stopped"


@dataclass
class TaskHealth:
    """A supervised task's state and how often it failed in a row."""

    name: str
    state: TaskState = TaskState.RUNNING
    restarts: int = 0
    """Restarts in a row, whatever the cause: the backoff grows with it."""
    failures: int = 0
    """Restarts in a row not explained by an outage: liveness fails when they pile up."""
    last_error: str | None = None


@dataclass
class Supervisor:
    """Starts loops as tasks and restarts each one whenever it raises or returns early."""

    service: str
    max_failures: int = 5
    backoff_base: float = 0.5
    tasks: dict[str, TaskHealth] = field(default_factory=dict)
    _running: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, name: str, loop: Loop, stop: asyncio.Event, *, once: bool = False) -> None:
        """Run `loop(stop)` under supervision until `stop` is set (or, `once`, until it returns)."""
        if name in self.tasks:
            raise ValueError(f"a task named {name} is supervised already")
        health = self.tasks[name] = TaskHealth(name)
        TASK_RESTARTS.labels(self.service, name)  # at 0 from the start: the first restart shows
        task = self._supervise(health, loop, stop, once=once)
        self._running.append(asyncio.create_task(task, name=name))

    async def _supervise(
        self, health: TaskHealth, loop: Loop, stop: asyncio.Event, *, once: bool
    ) -> None:
        while not stop.is_set():
            health.state, started = TaskState.RUNNING, time.monotonic()
            try:
                await loop(stop)
                if once or stop.is_set():
                    health.state = TaskState.STOPPED if stop.is_set() else TaskState.DONE
                    return
                error: BaseException = RuntimeError("the loop returned before it was stopped")
            except Exception as exc:  # any error: the task restarts, it never dies
                error = exc
            self._failed(health, error, ran=time.monotonic() - started)
            await sleep_or_stop(stop, backoff(health.restarts, base=self.backoff_base, cap=30.0))
        health.state = TaskState.STOPPED

    def _failed(self, health: TaskHealth, error: BaseException, *, ran: float) -> None:
        if ran >= HEALTHY_AFTER_SECONDS:
            health.restarts = health.failures = 0
        health.restarts += 1
        health.failures += 0 if is_outage(error) else 1
        health.state, health.last_error = TaskState.RESTARTING, repr(error)[:500]
        TASK_RESTARTS.labels(self.service, health.name).inc()
        log.error("service.task_restarting", task=health.name, error=health.last_error,
                  failures=health.failures)  # fmt: skip

    def not_running(self) -> list[str]:
        """Names of the tasks that are not running right now (restarting or stopped)."""
        idle = (TaskState.RUNNING, TaskState.DONE)
        return [t.name for t in self.tasks.values() if t.state not in idle]

    def failing(self) -> list[str]:
        """Names of the tasks that failed `max_failures` times in a row: the process is sick."""
        return [t.name for t in self.tasks.values() if t.failures >= self.max_failures]

    async def wait(self, within: float) -> None:
        """Wait (at most `within` seconds) for every task to end after its stop was set."""
        if self._running:
            await asyncio.wait(self._running, timeout=within)
