"""Supervised tasks restart after any error; readiness and liveness say which are not well."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from libs.platform.supervise import Supervisor, TaskState

Check = Callable[[], bool]


async def _until(check: Check, within: float = 5) -> None:
    for _ in range(int(within / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the supervisor did not get there in time")


def _failing(
    error: Exception, times: int | None = None
) -> tuple[list[int], Callable[..., Awaitable[None]]]:
    runs: list[int] = []

    async def loop(stop: asyncio.Event) -> None:
        runs.append(1)
        if times is None or len(runs) <= times:
            raise error
        await stop.wait()

    return runs, loop


async def test_a_task_that_raises_runs_again_and_is_named_while_it_waits() -> None:
    supervisor, stop = Supervisor("calls", backoff_base=0.05), asyncio.Event()
    runs, loop = _failing(asyncpg.InternalClientError("cannot switch to state 12"), times=3)
    supervisor.spawn("relay", loop, stop)
    await _until(lambda: len(runs) == 4 and supervisor.tasks["relay"].state == TaskState.RUNNING)
    assert supervisor.not_running() == []
    assert supervisor.tasks["relay"].restarts == 3
    assert supervisor.tasks["relay"].failures == 0  # an outage, not a fault of the task
    stop.set()
    await supervisor.wait(within=2)
    assert supervisor.tasks["relay"].state == TaskState.STOPPED


async def test_a_task_that_keeps_failing_makes_the_process_sick() -> None:
    supervisor, stop = Supervisor("billing", max_failures=3, backoff_base=0.001), asyncio.Event()
    _, loop = _failing(ValueError("a bug"))
    supervisor.spawn("consumer:billing", loop, stop)
    await _until(lambda: supervisor.failing() == ["consumer:billing"])
    assert supervisor.tasks["consumer:billing"].last_error == "ValueError('a bug')"
    stop.set()
    await supervisor.wait(within=2)


async def test_an_outage_is_waited_out_without_making_the_process_sick() -> None:
    supervisor, stop = Supervisor("notify", max_failures=2, backoff_base=0.001), asyncio.Event()
    runs, loop = _failing(ConnectionRefusedError("PostgreSQL is restarting"))
    supervisor.spawn("sender", loop, stop)
    await _until(lambda: len(runs) >= 10)
    assert supervisor.failing() == []
    assert supervisor.tasks["sender"].restarts >= 9
    stop.set()
    await supervisor.wait(within=2)


async def test_a_loop_that_returns_before_it_is_stopped_is_restarted() -> None:
    supervisor, stop = Supervisor("routing", backoff_base=0.001), asyncio.Event()
    runs: list[int] = []

    async def returns(_: asyncio.Event) -> None:
        runs.append(1)

    supervisor.spawn("escalation-timers", returns, stop)
    await _until(lambda: len(runs) >= 3)
    stop.set()
    await supervisor.wait(within=2)


async def test_a_one_off_task_is_done_once_it_returns() -> None:
    supervisor, stop = Supervisor("intake", backoff_base=0.001), asyncio.Event()
    runs, loop = _failing(OSError("no database yet"), times=2)

    async def once(s: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(loop(s), timeout=0.01)
        except TimeoutError:
            return

    supervisor.spawn("startup", once, stop, once=True)
    await _until(lambda: supervisor.tasks["startup"].state == TaskState.DONE)
    assert len(runs) == 3
    assert supervisor.not_running() == []
    with pytest.raises(ValueError, match="supervised already"):
        supervisor.spawn("startup", once, stop)
    stop.set()
