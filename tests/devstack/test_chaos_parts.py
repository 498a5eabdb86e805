"""The chaos suite's own parts without a stack: its plan, its HTTP driver, its verdicts and
its supervisor (on real but tiny processes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from libs.devstack.chaos import checks
from libs.devstack.chaos.driver import Answer, Driver
from libs.devstack.chaos.evidence import Evidence
from libs.devstack.chaos.observe import DigestRow, Mailbox
from libs.devstack.chaos.plan import ChaosOptions, make_plan
from libs.devstack.stack import ServiceProc
from libs.devstack.supervisor import Supervisor, SupervisorPolicy

# ---------------------------------------------------------------- the plan


def test_a_seed_decides_every_choice_of_a_run() -> None:
    options = ChaosOptions(seed=3, calls=40, kills=6, broker_stops=2, pg_restarts=1)

    plan = make_plan(options)

    assert plan == make_plan(options)
    assert plan != make_plan(ChaosOptions(seed=4, calls=40, kills=6, broker_stops=2))
    assert Counter(f.kind for f in plan.faults) == {"kill": 6, "broker": 2, "postgres": 1}
    assert all(1 <= f.at_call < 40 for f in plan.faults)
    assert [s.to for s in plan.clock_steps] == sorted(s.to for s in plan.clock_steps)


def test_a_weekend_day_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Dutch working day"):
        ChaosOptions(day=make_plan(ChaosOptions()).start.date().replace(day=14)).check()


# ---------------------------------------------------------------- the driver


def driver(answers: list[httpx.Response | Exception]) -> tuple[Driver, list[httpx.Request]]:
    """A driver whose server answers from a script, and the requests it received."""
    seen: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(reply))
    return Driver(http, patience=10, max_wait=0.2), seen


async def test_a_503_is_retried_after_its_retry_after() -> None:
    busy = httpx.Response(503, headers={"Retry-After": "0.1"}, json={"detail": "down"})
    d, seen = driver([busy, busy, httpx.Response(201, json={"call_id": "x"})])

    answer = await d.send("POST", "http://svc/calls", "POST /calls", {}, safe=False)

    assert (answer.status, len(seen), d.tally.retries) == (201, 3, 2)
    assert d.tally.statuses == {"503": 2, "201": 1}
    assert d.tally.unavailable_without_retry_after == 0


async def test_a_lost_answer_to_an_unsafe_request_is_unknown() -> None:
    lost = httpx.ReadError("connection reset")
    d, seen = driver([httpx.ConnectError("refused"), lost])

    answer = await d.send("POST", "http://svc/calls", "POST /calls", {}, safe=False)

    assert answer.unknown
    assert len(seen) == 2


async def test_a_lost_answer_is_not_resent_when_the_effect_is_in_place() -> None:
    d, seen = driver([httpx.ReadError("connection reset")])

    async def done() -> bool:
        return True

    answer = await d.send("POST", "http://svc/calls/1/notes", "notes", {}, safe=False, done=done)

    assert (answer.ok, answer.reconciled, len(seen)) == (True, True, 1)


async def test_server_errors_are_answers_not_retried_and_listed() -> None:
    d, seen = driver([httpx.Response(500, text="Internal Server Error")])

    answer = await d.get("http://svc/calls/1", "GET /calls/{id}")

    assert (answer.status, len(seen)) == (500, 1)
    assert d.tally.server_errors == {"GET /calls/{id} 500": 1}
    assert d.tally.server_error_bodies == ["Internal Server Error"]
    assert (
        checks.no_server_errors([d.tally]).detail
        == "1 answers 5xx (not 503): GET /calls/{id} 500: 1"
    )


# ---------------------------------------------------------------- the verdicts


def ok(body: Any) -> Answer:
    """A 200 answer with this body."""
    return Answer(200, body)


def call(client: UUID, *, notes: int = 1, non_billable: str | None = None) -> dict[str, Any]:
    """The parts of `GET /calls/{id}` the verdicts read."""
    return {"client_id": str(client), "notes_count": notes, "non_billable": non_billable}


def mail(client: UUID, *call_ids: UUID, kind: str = "daily_digest") -> dict[str, Any]:
    """A sent notification as notify lists it."""
    message_id = f"<{uuid4()}@frontdesk.local>"
    return {"client_id": str(client), "channel": "email", "kind": kind, "state": "sent",
            "call_ids": [str(c) for c in call_ids], "message_id": message_id}  # fmt: skip


def invoice(*call_ids: UUID) -> dict[str, Any]:
    """A monthly invoice with one line for the calls."""
    return {"invoice_id": str(uuid4()), "total_cents": 0,
            "lines": [{"call_ids": [str(c) for c in call_ids]}]}  # fmt: skip


def evidence(calls: dict[UUID, dict[str, Any]], notifications: list[dict[str, Any]]) -> Evidence:
    """Evidence in which every sent mail was delivered once."""
    delivered = Counter(n["message_id"] for n in notifications)
    return Evidence(
        calls={i: ok(c) for i, c in calls.items()},
        routes={},
        notifications=notifications,
        mailbox=Mailbox(delivered, {}),
    )


def test_a_noted_call_missing_from_every_mail_fails_mailed_once() -> None:
    client, first, second = uuid4(), uuid4(), uuid4()
    ev = evidence({first: call(client), second: call(client)}, [mail(client, first)])

    verdict = checks.mailed_once(ev, per_call_clients=set())

    assert not verdict.ok
    assert "never mailed 1" in verdict.detail


def test_a_per_call_client_gets_one_mail_per_note() -> None:
    client, noted_twice = uuid4(), uuid4()
    mails = [mail(client, noted_twice, kind="per_call") for _ in range(2)]
    ev = evidence({noted_twice: call(client, notes=2)}, mails)

    assert checks.mailed_once(ev, per_call_clients={client}).ok
    assert not checks.mailed_once(ev, per_call_clients=set()).ok


def test_a_call_on_two_invoices_or_a_non_billable_call_billed_fails_billed_once() -> None:
    client, billable, marked = uuid4(), uuid4(), uuid4()
    calls = {billable: call(client), marked: call(client, non_billable="wrong_number")}
    ev = evidence(calls, [mail(client, billable, marked)])

    ev.invoices = [invoice(billable)]
    assert checks.billed_once(ev).ok
    ev.invoices = [invoice(billable), invoice(billable)]
    assert "on two invoices 1" in checks.billed_once(ev).detail
    ev.invoices = [invoice(billable, marked)]
    assert "billed but not billable 1" in checks.billed_once(ev).detail


def test_two_digests_for_one_client_and_day_fail() -> None:
    client = uuid4()
    ev = evidence({}, [])
    ev.digests = [DigestRow(client, "2026-11-10", "sent", f"<{n}@x>") for n in range(2)]

    assert not checks.one_digest_a_day(ev).ok


# ---------------------------------------------------------------- the supervisor


class TinyStack:
    """A stack of one process that sleeps; restart starts another one."""

    def __init__(self, tmp_path: Path, code: str) -> None:
        self.code, self.log = code, tmp_path / "tiny.log"
        self.services = [ServiceProc("tiny", 9, self._start(), self.log, {})]

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", self.code])

    def restart(self, service: str) -> ServiceProc:
        svc = self.services[0]
        if svc.proc.poll() is None:
            svc.proc.kill()
        svc.proc.wait()
        svc.proc = self._start()
        return svc

    def stop(self) -> None:
        """Kill the process and reap it."""
        self.services[0].proc.kill()
        self.services[0].proc.wait()


async def test_the_supervisor_starts_a_killed_process_again(tmp_path: Path) -> None:
    stack = TinyStack(tmp_path, "import time; time.sleep(60)")
    policy = SupervisorPolicy(probe_every=0.1, probe_timeout=0.2, startup_grace=30)
    supervisor = Supervisor(stack, policy)
    supervisor.start()
    try:
        first = stack.services[0].proc
        first.kill()
        for _ in range(100):
            if supervisor.restarts:
                break
            await asyncio.sleep(0.05)
    finally:
        await supervisor.stop()
        stack.stop()
    assert [(r.reason, r.exit_code) for r in supervisor.restarts] == [("exited", -9)]
    assert supervisor.count("exited", killed=True) == 1
    assert stack.services[0].proc is not first


async def test_the_supervisor_restarts_a_process_that_stops_answering(tmp_path: Path) -> None:
    stack = TinyStack(tmp_path, "import time; time.sleep(60)")  # never answers /health/live
    policy = SupervisorPolicy(
        probe_every=0.05, probe_timeout=0.1, startup_grace=0.3, unresponsive_after=0.2
    )
    supervisor = Supervisor(stack, policy)
    supervisor.start()
    try:
        await asyncio.sleep(1.0)
    finally:
        await supervisor.stop()
        stack.stop()
    assert supervisor.count("unresponsive") >= 1


def test_a_service_behind_the_database_clock_is_named_with_how_often() -> None:
    looks = [
        {},
        {"calls": "shows 08:00, the database 09:00"},
        {"calls": "shows 08:00, the database 10:00"},
    ]

    verdict = checks.no_stale_clock(looks)

    assert not verdict.ok
    assert verdict.detail == "calls behind at 2 of 3 looks (last: shows 08:00, the database 10:00)"
