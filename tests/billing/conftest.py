"""Billing's fixtures: in-process on a rolled-back transaction, or a real process per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from libs.events import Event, Service
from services.billing.migrations import MIGRATIONS
from tests.billing.inproc import PREFIX, Billing, http_client
from tests.support.pipeline import wait_until
from tests.support.rollback import rolled_back_store
from tests.support.stack import Infrastructure, Stack, private_world, running_stack

BILLING_APP = "services.billing.app:create_app"
SEEDED: tuple[Service, ...] = ("intake", "calls", "notify")


@pytest.fixture
async def billing(database_url: str) -> AsyncIterator[Billing]:
    """Billing's tables in a fresh schema, inside a transaction rolled back afterwards."""
    async with rolled_back_store(database_url, "billing", MIGRATIONS, PREFIX) as store:
        yield Billing(store.conn, store)


@pytest.fixture
async def http(billing: Billing) -> AsyncIterator[httpx.AsyncClient]:
    """Billing's API in-process on the rolled-back store, acting as `billing.caller`."""
    async with http_client(billing) as client:
        yield client


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
