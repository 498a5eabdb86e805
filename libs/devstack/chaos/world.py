"""The run's shared context, and the clients and operators it registers through the APIs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from libs.devstack.chaos.driver import Answer, Driver
from libs.devstack.chaos.plan import CLIENTS, OPERATORS, ChaosOptions, ClientSpec, Plan
from libs.devstack.stack import Stack


class SetupFailed(RuntimeError):
    """The run could not register its clients or operators (before any fault)."""


@dataclass
class Context:
    """What every phase of a run uses: the stack, the HTTP driver, the plan, the clients."""

    options: ChaosOptions
    stack: Stack
    driver: Driver
    watcher: Driver
    """Polls readiness, lines and clocks: its 404s and 503s are expected, not traffic."""
    plan: Plan
    clients: dict[str, UUID] = field(default_factory=dict)
    """Client ids by company name."""

    def url(self, service: str, path: str) -> str:
        """The address of `path` on one service of the stack."""
        return f"{self.stack.url(service)}{path}"

    def client_id(self, spec: ClientSpec) -> UUID:
        """The id intake gave a client of the plan."""
        return self.clients[spec.name]


async def set_up(ctx: Context) -> None:
    """Register every client with its numbers and book, and every operator as available."""
    for spec in CLIENTS:
        ctx.clients[spec.name] = await _register(ctx, spec)
    for operator_id, name, languages in OPERATORS:
        body = {"name": name, "languages": list(languages)}
        await _expect(ctx, "PUT", "routing", f"/operators/{operator_id}", body)
        presence = {"presence": "available"}
        await _expect(ctx, "PUT", "routing", f"/operators/{operator_id}/presence", presence)
    for spec in CLIENTS:
        for number in spec.numbers:
            await _wait_for_line(ctx, number)


async def _register(ctx: Context, spec: ClientSpec) -> UUID:
    created = await _expect(ctx, "POST", "intake", "/clients", spec.registration())
    client_id = UUID(created["client_id"])
    base = f"/clients/{client_id}"
    for number in spec.numbers:
        await _expect(ctx, "POST", "intake", f"{base}/numbers", {"number": number})
    await _expect(ctx, "PUT", "intake", f"{base}/book", spec.book())
    await _expect(ctx, "POST", "intake", f"{base}/activate", None)
    return client_id


async def _expect(ctx: Context, method: str, service: str, path: str, body: Any) -> Any:
    answer: Answer = await ctx.driver.send(
        method, ctx.url(service, path), f"{method} {path}", body, safe=method != "POST"
    )
    if not answer.ok:
        raise SetupFailed(f"{method} {service}{path}: {answer.describe()} {answer.body}")
    return answer.body


async def _wait_for_line(ctx: Context, number: str, within: float = 90) -> None:
    """Wait until calls has learned the number and its book from intake's events."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = await ctx.watcher.get(ctx.url("calls", f"/lines/{number}"), "GET /lines/{n}")
        if answer.ok and answer.body.get("book_version") is not None:
            return
        await asyncio.sleep(0.3)
    raise SetupFailed(f"calls did not learn {number} within {within} s")
