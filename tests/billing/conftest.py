"""A running billing process fed by seeded intake, calls and notify stores, per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from libs.events import Event, Service
from tests.support.pipeline import wait_until
from tests.support.stack import Infrastructure, Stack, private_world, running_stack

BILLING_APP = "services.billing.app:create_app"
SEEDED: tuple[Service, ...] = ("intake", "calls", "notify")


class BillingStack(Stack):
    """The billing stack, which can tell when billing's projection has taken events in."""

    async def until_billing_has(self, events: Sequence[Event], within: float = 30) -> None:
        """Wait until billing's projection holds every one of the events."""
        ids = [e.event_id for e in events]

        async def known() -> bool:
            found = await self.pool.fetchval(
                f"SELECT count(*) FROM {self.schema}.history WHERE event_id = ANY($1::uuid[])",
                ids,
            )
            return bool(found == len(ids))

        await wait_until(known, within=within, what=f"billing to consume {len(ids)} events")


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BillingStack]:
    """The intake, calls and notify stores and one billing process, for a test module."""
    async with (
        private_world(infra, tmp_path_factory.mktemp("billing")) as world,
        running_stack(BillingStack, world, BILLING_APP, feeds=SEEDED, http_timeout=60) as billing,
    ):
        yield billing
