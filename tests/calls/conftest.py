"""Calls under test: a running process fed by a seeded intake event store, shared by a test
module; or its store in a rolled-back transaction, with its API in-process as a chosen caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.events import Event, FaqEntry, OfficeHours, SecretaryBookRevised, new_id
from libs.platform.api_keys import parse
from services.calls.migrations import MIGRATIONS
from tests.calls.inprocess import Acting, Calls, calls_api
from tests.support.builders import (
    book_revised,
    fresh_number,
    leak_rule,
    number_assigned,
    registered,
)
from tests.support.credentials import STAFF_KEY
from tests.support.pipeline import wait_until
from tests.support.rollback import rolled_back_store
from tests.support.stack import (
    Infrastructure,
    Stack,
    events_on_topic,
    of_call,
    private_world,
    running_stack,
)

CALLS_APP = "services.calls.app:create_app"
NUMBERS_ASSIGNED_AT = datetime(2026, 1, 1, tzinfo=UTC)
"""Seeded numbers are held from before the fixed instants the tests' calls are dated at."""
TWILIO_TOKEN = "test-twilio-auth-token"
STAFF_SUBJECT = f"staff-key:{parse(STAFF_KEY)[0]}"
"""Who the stack's `http` client is: the staff key's principal, the operator of what it does."""


@dataclass(frozen=True)
class Client:
    """A client seeded into intake's store, with its number."""

    client_id: UUID
    number: str
    name: str


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One calls process and the intake store feeding it, for every test of a module."""
    env = {"FRONTDESK_CALLS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    async with (
        private_world(infra, tmp_path_factory.mktemp("calls")) as world,
        running_stack(Stack, world, CALLS_APP, feeds=("intake",), env=env) as calls,
    ):
        yield calls


@pytest.fixture
async def calls(database_url: str) -> AsyncIterator[Calls]:
    """Calls' tables in a fresh schema inside a transaction that is rolled back after."""
    async with rolled_back_store(database_url, "calls", MIGRATIONS) as store:
        yield Calls(store)


@pytest.fixture
def acting() -> Acting:
    """Who the in-process API takes the caller for; staff until a test changes it."""
    return Acting()


@pytest.fixture
async def http(calls: Calls, acting: Acting) -> AsyncIterator[httpx.AsyncClient]:
    """Calls' API in-process on the rolled-back store, as `acting.principal`."""
    async with calls_api(calls, acting) as client:
        yield client


def book(client_id: UUID, version: int, **fields: Any) -> SecretaryBookRevised:
    """Version `version` of a client's secretary book."""
    defaults: dict[str, Any] = {
        "greeting": f"Bakker Installatie, goedemorgen (book v{version})",
        "instructions": f"Instructions of version {version}",
        "faq": (FaqEntry(question="Solar panels?", answer="Yes"),),
        "urgency_rules": (leak_rule(),),
    }
    return book_revised(client_id, version, **{**defaults, **fields})


async def seed_client(
    stack: Stack,
    *,
    books: int = 1,
    cold_calls_free: bool = False,
    office_hours: OfficeHours | None = None,
) -> Client:
    """Register a client with a number and `books` book versions in intake; wait for calls."""
    client_id, number = new_id(), fresh_number()
    hours = office_hours or OfficeHours()
    client = registered(client_id, office_hours=hours, cold_calls_free=cold_calls_free)
    events: list[Event] = [
        client,
        number_assigned(client_id, number, NUMBERS_ASSIGNED_AT),
        *[book(client_id, version) for version in range(1, books + 1)],
    ]
    await stack.append(events)
    await until_known(stack, client_id, books or None)
    return Client(client_id, number, client.name)


async def until_known(stack: Stack, client_id: UUID, book_version: int | None) -> None:
    """Wait until calls' directory has the client at this book version."""

    async def known() -> bool:
        found = await stack.pool.fetchrow(
            f"SELECT c.client_id, (SELECT max(book_version) FROM {stack.schema}"
            ".directory_books b WHERE b.client_id = c.client_id) AS version "
            f"FROM {stack.schema}.directory_clients c WHERE c.client_id = $1",
            client_id,
        )
        return found is not None and found["version"] == book_version

    await wait_until(known, within=30, what=f"calls to learn client {client_id}")


async def calls_events(stack: Stack, call_id: UUID, count: int) -> list[Event]:
    """The events of a call on the calls topic, once at least `count` have been published."""
    what = f"events of call {call_id}"
    return await events_on_topic(stack.world, "calls", of_call(call_id), count, what=what)
