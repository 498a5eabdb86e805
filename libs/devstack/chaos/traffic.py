"""The calls of a run, driven over the calls API while the planned faults are injected.

A call is accepted when `POST /calls` answered 201. Its later steps (answer, note, maybe an
escalation, end, maybe a non-billable mark) are each sent until they took effect: after a
lost answer or a 503 the call is read back first, so a step is never applied twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from libs.devstack.chaos.driver import Answer
from libs.devstack.chaos.faults import Faults
from libs.devstack.chaos.plan import CallPlan, ClockStep
from libs.devstack.chaos.settle import DB_ERRORS, stale_clocks
from libs.devstack.chaos.world import Context

CallState = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One operator action on a call, and how to see in the call that it happened."""

    name: str
    body: dict[str, Any] | None
    done: Callable[[CallState], bool]


@dataclass
class Traffic:
    """What the driver knows of the calls it made."""

    accepted: dict[UUID, CallPlan] = field(default_factory=dict)
    unknown: list[int] = field(default_factory=list)
    """Calls whose `POST /calls` may have arrived but got no answer."""
    refused: Counter[str] = field(default_factory=Counter)
    """Calls whose `POST /calls` was answered, but not with 201, by status."""
    incomplete: Counter[str] = field(default_factory=Counter)
    """Accepted calls whose flow stopped at a step, by step and status."""
    examples: list[str] = field(default_factory=list)
    clock_errors: list[str] = field(default_factory=list)
    clock_looks: list[dict[str, str]] = field(default_factory=list)
    """After each clock step, the services that had not followed it (see stale_clocks)."""

    def failed(self, kind: str, answer: Answer) -> None:
        """Count a call that could not go on, and keep the first few answers."""
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {answer.describe()} {answer.body}"[:300])


async def drive(ctx: Context, faults: Faults) -> Traffic:
    """Drive every planned call, a few at a time, with the faults and clock steps in between."""
    traffic = Traffic()
    slots = asyncio.Semaphore(ctx.options.concurrency)
    flows: set[asyncio.Task[None]] = set()
    chain: asyncio.Task[None] | None = None
    for call in ctx.plan.calls:
        chain = await _faults_before(ctx, faults, call.index, chain)
        step = ctx.plan.clock_at(call.index)
        if step is not None:
            await _move_clock(ctx, traffic, step)
        await slots.acquire()
        flow = asyncio.create_task(_flow(ctx, traffic, call))
        flow.add_done_callback(lambda _: slots.release())
        flows.add(flow)
    await asyncio.gather(*flows)
    if chain is not None:
        await chain
    return traffic


async def _faults_before(
    ctx: Context, faults: Faults, index: int, chain: asyncio.Task[None] | None
) -> asyncio.Task[None] | None:
    """Start the faults due before this call once the previous ones are over."""
    due = ctx.plan.faults_at(index)
    if not due:
        return chain
    if chain is not None:
        await chain  # one fault at a time; the calls already started carry on meanwhile
    return asyncio.create_task(faults.run(due))


async def _move_clock(ctx: Context, traffic: Traffic, step: ClockStep) -> None:
    body = {"set_to": step.to.isoformat()}  # setting an instant twice is harmless
    answer = await ctx.driver.send("POST", ctx.url(step.service, "/clock"), "POST /clock", body)
    if not answer.ok:
        traffic.clock_errors.append(f"{step.service}: {answer.describe()} {answer.body}"[:300])
    try:
        traffic.clock_looks.append(await stale_clocks(ctx, within=10, reachable_only=True))
    except DB_ERRORS as exc:  # PostgreSQL is being restarted: no clock to compare with
        traffic.clock_errors.append(f"database clock: {exc!r}"[:300])


async def _flow(ctx: Context, traffic: Traffic, call: CallPlan) -> None:
    call_id = await _receive(ctx, traffic, call)
    if call_id is None:
        return
    for step in steps(call):
        if not await _step(ctx, traffic, call_id, step):
            return


async def _receive(ctx: Context, traffic: Traffic, call: CallPlan) -> UUID | None:
    body = {"dialled_number": call.number, "caller_number": call.caller}
    answer = await ctx.driver.send(
        "POST", ctx.url("calls", "/calls"), "POST /calls", body, safe=False
    )
    if answer.status == 201:
        call_id = UUID(answer.body["call_id"])
        traffic.accepted[call_id] = call
        return call_id
    if answer.unknown:
        traffic.unknown.append(call.index)
    else:
        traffic.refused[answer.describe()] += 1
        traffic.failed(f"POST /calls (call {call.index})", answer)
    return None


async def _step(ctx: Context, traffic: Traffic, call_id: UUID, step: Step) -> bool:
    async def done() -> bool:
        found = await ctx.driver.get(ctx.url("calls", f"/calls/{call_id}"), "GET /calls/{id}")
        return found.ok and step.done(found.body)

    url = ctx.url("calls", f"/calls/{call_id}/{step.name}")
    label = f"POST /calls/{{id}}/{step.name}"
    answer = await ctx.driver.send("POST", url, label, step.body, safe=False, done=done)
    if not answer.ok:
        traffic.incomplete[f"{step.name} {answer.describe()}"] += 1
        traffic.failed(f"{label} ({call_id})", answer)
    return answer.ok


def steps(call: CallPlan) -> list[Step]:
    """The operator's actions on an accepted call, in order."""
    found = [
        Step("answer", {"language": call.client.language},
             lambda c: c["stage"] != "ringing"),
        Step("notes", _note(call), lambda c: c["notes_count"] >= 1),
    ]  # fmt: skip
    if call.escalate:
        reason = {"urgency_kind": "outage", "reason": "The caller reports an outage"}
        found.append(Step("escalations", reason, lambda c: len(c["escalations"]) >= 1))
    found.append(Step("end", None, lambda c: c["ended_at"] is not None))
    if call.non_billable is not None:
        mark = {"reason": call.non_billable, "comment": "chaos run"}
        found.append(Step("non-billable", mark, lambda c: c["non_billable"] is not None))
    return found


def _note(call: CallPlan) -> dict[str, Any]:
    return {
        "caller_name": f"Caller {call.index}",
        "caller_number": call.caller,
        "message": f"Call {call.index}: asks to be called back about an appointment",
        "follow_up": "call_back",
    }
