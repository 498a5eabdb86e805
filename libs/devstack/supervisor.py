"""Keeps the local stack's service processes running, as an orchestrator would.

A process that exited is started again (with a growing pause when it keeps exiting right
after its start, like a crash-loop back-off), and one whose `/health/live` has not answered
for a while is killed and started again (a liveness probe). Every restart is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import httpx

if TYPE_CHECKING:
    from libs.devstack.stack import ServiceProc

log = logging.getLogger(__name__)
Reason = Literal["exited", "unresponsive"]


class Supervised(Protocol):
    """What the supervisor needs of a stack: its service processes and a way to restart one."""

    services: list[ServiceProc]

    def restart(self, service: str) -> ServiceProc:
        """Start the service again on its port with its environment."""
        ...


@dataclass(frozen=True)
class SupervisorPolicy:
    """How often the supervisor looks, and how long it lets a process be silent."""

    probe_every: float = 1.0
    probe_timeout: float = 2.0
    unresponsive_after: float = 15.0
    startup_grace: float = 60.0
    """A new process may take this long to answer for the first time."""
    short_lived: float = 10.0
    """A process that exits sooner than this after its start counts as crash-looping."""
    backoff_max: float = 8.0


@dataclass(frozen=True)
class Restart:
    """One restart the supervisor made, and why."""

    service: str
    reason: Reason
    exit_code: int | None
    at: float


@dataclass
class _Watch:
    answered_at: float | None = None
    streak: int = 0
    not_before: float = 0.0


@dataclass
class Supervisor:
    """An asyncio task that restarts exited or unresponsive service processes of a stack."""

    stack: Supervised
    policy: SupervisorPolicy = field(default_factory=SupervisorPolicy)
    restarts: list[Restart] = field(default_factory=list)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching (in the running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop watching; processes are left as they are."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def count(self, reason: Reason, *, killed: bool | None = None) -> int:
        """Restarts for a reason; killed=True only after SIGKILL, False only other exits."""
        found = [r for r in self.restarts if r.reason == reason]
        if killed is not None:
            found = [r for r in found if (r.exit_code == -9) == killed]
        return len(found)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.policy.probe_timeout) as http:
            while True:
                await self._round(http, list(self.stack.services))
                await asyncio.sleep(self.policy.probe_every)

    async def _round(self, http: httpx.AsyncClient, services: Sequence[ServiceProc]) -> None:
        for svc in services:
            try:
                await self._check(http, svc)
            except (OSError, RuntimeError) as exc:  # a failed start is tried again next round
                log.warning("restarting %s failed: %r", svc.service, exc)

    async def _check(self, http: httpx.AsyncClient, svc: ServiceProc) -> None:
        watch = self._watches.setdefault(svc.service, _Watch())
        now = time.monotonic()
        code = svc.proc.poll()
        if code is not None:
            if now >= watch.not_before:
                self._restart_exited(svc, watch, code, now)
        elif await _live(http, svc.url):
            watch.answered_at = now
        elif now - _silent_since(svc, watch, self.policy) > self.policy.unresponsive_after:
            self._restart(svc, watch, "unresponsive", None, now)

    def _restart_exited(self, svc: ServiceProc, watch: _Watch, code: int, now: float) -> None:
        lived = now - svc.started_at
        watch.streak = watch.streak + 1 if lived < self.policy.short_lived else 0
        # The pause applies to the start after this one if that process dies young too.
        pause = 0.0 if watch.streak == 0 else 0.5 * 2 ** (watch.streak - 1)
        self._restart(svc, watch, "exited", code, now)
        watch.not_before = now + min(pause, self.policy.backoff_max)

    def _restart(
        self, svc: ServiceProc, watch: _Watch, reason: Reason, code: int | None, now: float
    ) -> None:
        log.info("restarting %s (%s, exit code %s)", svc.service, reason, code)
        self.restarts.append(Restart(svc.service, reason, code, now))
        watch.answered_at = None
        self.stack.restart(svc.service)


def _silent_since(svc: ServiceProc, watch: _Watch, policy: SupervisorPolicy) -> float:
    if watch.answered_at is not None and watch.answered_at >= svc.started_at:
        return watch.answered_at
    return svc.started_at + policy.startup_grace - policy.unresponsive_after


async def _live(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/health/live")).status_code == 200
    except httpx.HTTPError:
        return False
