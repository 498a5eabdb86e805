"""Faults injected into the running stack: SIGKILL a service, stop Kafka, restart PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from libs.devstack.chaos.plan import FaultPlan
from libs.devstack.kafka import KafkaUnavailable
from libs.devstack.postgres import PostgresUnavailable
from libs.devstack.stack import Stack

BROKER_START_TRIES = 3
BACK_WITHIN = 30.0
"""How long a kill waits for the supervisor to have started its target again."""
INFRA_ERRORS = (RuntimeError, OSError, KafkaUnavailable, PostgresUnavailable)


@dataclass
class Faults:
    """Injects planned faults one after another and keeps count of what it did."""

    stack: Stack
    done: Counter[str] = field(default_factory=Counter)
    outage_seconds: dict[str, float] = field(
        default_factory=lambda: {"broker": 0.0, "postgres": 0.0}
    )
    errors: list[str] = field(default_factory=list)

    async def run(self, due: Sequence[FaultPlan]) -> None:
        """Inject each fault in turn, each one over before the next begins."""
        for fault in due:
            try:
                await self.inject(fault)
            except INFRA_ERRORS as exc:
                self.errors.append(f"{fault.kind}: {exc!r}"[:500])

    async def inject(self, fault: FaultPlan) -> None:
        """Inject one fault and wait until the broken part is back (services: supervisor)."""
        if fault.kind == "kill":
            await self._kill(fault.service or "")
        elif fault.kind == "broker":
            await self._broker_outage(fault.down_seconds)
        else:
            await self._postgres_restart(fault.down_seconds)

    async def _kill(self, service: str) -> None:
        # Right after an earlier kill the supervisor may not have started the service again.
        deadline = time.monotonic() + BACK_WITHIN
        while self.stack.service(service).proc.poll() is not None:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        self.done["kills" if self.stack.kill(service) else "kills_missed"] += 1

    async def _broker_outage(self, down_seconds: float) -> None:
        started = time.monotonic()
        await self.stack.stop_kafka()
        self.done["broker_stops"] += 1
        await asyncio.sleep(down_seconds)
        for attempt in range(BROKER_START_TRIES):
            try:
                await self.stack.start_kafka()
                break
            except KafkaUnavailable as exc:
                self.errors.append(f"broker start {attempt + 1}: {exc!r}"[:500])
        self.outage_seconds["broker"] += time.monotonic() - started

    async def _postgres_restart(self, down_seconds: float) -> None:
        started = time.monotonic()
        await self.stack.restart_postgres(down_seconds)
        self.done["pg_restarts"] += 1
        self.outage_seconds["postgres"] += time.monotonic() - started
