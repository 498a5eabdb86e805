"""Intake's service layer in-process: command handlers and read tables on the real PostgreSQL.

No processes and no Kafka: commands go straight to the command handlers, and every test runs
in one transaction that is rolled back at its end (the handlers' transactions are savepoints).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from libs.errors import Conflict, NotFound
from libs.events import ApiKeyIssued, Event, NotificationPreferences, PerCallPlan, new_id
from libs.events.intake import POOL_ID
from libs.platform.api_keys import new_key
from libs.platform.store import EventStore
from services.intake import read_model
from services.intake.commands import api_key_stream, client_stream, execute, number_stream
from services.intake.domain.commands import (
    ActivateClient,
    AssignNumber,
    BookContent,
    Command,
    IssueApiKey,
    OffboardClient,
    RegisterClient,
    ReleaseNumber,
    ReviseBook,
    RevokeApiKey,
)
from services.intake.migrations import MIGRATIONS
from tests.support.builders import fresh_number
from tests.support.rollback import rolled_back_store

pytestmark = [pytest.mark.infra]
AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Intake:
    """Intake's store in a rolled-back schema."""

    store: EventStore

    async def run(self, command: Command) -> list[Event]:
        """Run a command through the command handler."""
        return await execute(self.store, command)

    async def register(self) -> UUID:
        """A new client; returns its id."""
        command = RegisterClient(
            client_id=new_id(),
            at=AT,
            name=f"Bakker {uuid4().hex[:6]}",
            contact_email="jan@bakker.nl",
            language="nl",
            plan=PerCallPlan(),
            notification=NotificationPreferences(recipients=("jan@bakker.nl",)),
        )
        await self.run(command)
        return command.client_id

    async def row(self, client_id: UUID) -> read_model.ClientRow:
        """The client's read row."""
        found = await read_model.client(self.store.pool, self.store.schema, client_id)
        assert found is not None
        return found

    async def stream(self, stream_id: str) -> list[Event]:
        """The events of one stream."""
        return [s.event for s in await self.store.load(stream_id)]


@pytest.fixture
async def intake(database_url: str) -> AsyncIterator[Intake]:
    """Intake's tables in a fresh schema inside a transaction that is rolled back after."""
    async with rolled_back_store(database_url, "intake", MIGRATIONS) as store:
        yield Intake(store)


def book(client_id: UUID, expected: int | None = None) -> ReviseBook:
    """A new version of the client's book."""
    content = BookContent(greeting="Bakker, goedemorgen")
    return ReviseBook(client_id=client_id, at=AT, content=content, expected_version=expected)


async def test_a_registered_client_is_in_the_read_tables(intake: Intake) -> None:
    client_id = await intake.register()
    row = await intake.row(client_id)
    assert (row.status, row.numbers, row.book_version) == ("registered", (), None)
    assert len(await intake.stream(client_stream(client_id))) == 1


async def test_a_command_on_an_unknown_client_is_not_found_and_writes_nothing(
    intake: Intake,
) -> None:
    with pytest.raises(NotFound, match="no client"):
        await intake.run(AssignNumber(client_id=new_id(), at=AT, number=fresh_number()))
    assert await intake.store.read_all() == []


async def test_a_number_is_held_by_one_client_at_a_time(intake: Intake) -> None:
    first, second = await intake.register(), await intake.register()
    number = fresh_number()
    await intake.run(AssignNumber(client_id=first, at=AT, number=number))
    with pytest.raises(Conflict, match="assigned to another client"):
        await intake.run(AssignNumber(client_id=second, at=AT, number=number))
    await intake.run(ReleaseNumber(client_id=first, at=AT, number=number))
    with pytest.raises(Conflict, match="quarantine"):
        await intake.run(AssignNumber(client_id=second, at=AT + timedelta(days=89), number=number))
    await intake.run(AssignNumber(client_id=second, at=AT + timedelta(days=90), number=number))
    assert (await intake.row(first)).numbers == ()
    assert (await intake.row(second)).numbers == (number,)
    assert [e.client_id for e in await intake.stream(number_stream(number))] == [
        POOL_ID, first, first, second
    ]  # fmt: skip


async def test_offboarding_releases_the_clients_numbers_in_the_same_transaction(
    intake: Intake,
) -> None:
    client_id = await intake.register()
    numbers = [fresh_number(), fresh_number()]
    for number in numbers:
        await intake.run(AssignNumber(client_id=client_id, at=AT, number=number))
    events = await intake.run(OffboardClient(client_id=client_id, at=AT, reason="moved"))
    assert sorted(e.type for e in events) == [
        "ClientOffboarded",
        "NumberReleased",
        "NumberReleased",
    ]
    row = await intake.row(client_id)
    assert (row.status, row.numbers, row.offboard_reason) == ("offboarded", (), "moved")
    with pytest.raises(Conflict, match="was offboarded"):
        await intake.run(AssignNumber(client_id=client_id, at=AT, number=fresh_number()))


async def test_activation_needs_a_book_and_a_number(intake: Intake) -> None:
    client_id = await intake.register()
    with pytest.raises(Conflict, match="needs a secretary book"):
        await intake.run(ActivateClient(client_id=client_id, at=AT))
    await intake.run(book(client_id))
    with pytest.raises(Conflict, match="needs a forwarding number"):
        await intake.run(ActivateClient(client_id=client_id, at=AT))
    await intake.run(AssignNumber(client_id=client_id, at=AT, number=fresh_number()))
    await intake.run(ActivateClient(client_id=client_id, at=AT))
    assert (await intake.row(client_id)).status == "active"


async def test_a_book_edit_on_a_stale_version_is_refused(intake: Intake) -> None:
    client_id = await intake.register()
    await intake.run(book(client_id, expected=0))
    await intake.run(book(client_id, expected=1))
    with pytest.raises(Conflict):
        await intake.run(book(client_id, expected=1))
    assert (await intake.row(client_id)).book_version == 2


async def test_an_issued_key_is_in_the_key_table_in_the_same_transaction(intake: Intake) -> None:
    client_id, made = await intake.register(), new_key(new_id())
    issue = IssueApiKey(client_id=client_id, at=AT, key_id=made.key_id, role="operator",
                        name="desk robot", secret_sha256=made.secret_sha256)  # fmt: skip
    await intake.run(issue)
    [event] = await intake.stream(api_key_stream(made.key_id))
    assert isinstance(event, ApiKeyIssued)
    assert (event.client_id, event.secret_sha256) == (client_id, made.secret_sha256)
    [row] = await read_model.api_key_list(intake.store.pool, intake.store.schema, client_id)
    assert (row.key_id, row.role, row.name, row.revoked_at) == (
        made.key_id, "operator", "desk robot", None
    )  # fmt: skip
    kept = await intake.store.pool.fetchval(
        f"SELECT secret_sha256 FROM {intake.store.schema}.api_keys WHERE key_id = $1", made.key_id
    )
    assert kept == made.secret_sha256
    await intake.run(RevokeApiKey(client_id=client_id, at=AT + timedelta(hours=1),
                                  key_id=made.key_id))  # fmt: skip
    found = await read_model.api_key(intake.store.pool, intake.store.schema, made.key_id)
    assert found is not None
    assert found.revoked_at == AT + timedelta(hours=1)
    assert len(await intake.stream(api_key_stream(made.key_id))) == 2
    with pytest.raises(Conflict, match="revoked already"):
        await intake.run(RevokeApiKey(client_id=client_id, at=AT, key_id=made.key_id))


async def test_no_key_for_a_client_that_is_unknown_or_gone(intake: Intake) -> None:
    made = new_key(new_id())

    def issue(client_id: UUID) -> IssueApiKey:
        return IssueApiKey(client_id=client_id, at=AT, key_id=made.key_id, role="client",
                           name="CRM", secret_sha256=made.secret_sha256)  # fmt: skip

    with pytest.raises(NotFound, match="no client"):
        await intake.run(issue(new_id()))
    client_id = await intake.register()
    await intake.run(OffboardClient(client_id=client_id, at=AT))
    with pytest.raises(Conflict, match="offboarded"):
        await intake.run(issue(client_id))
    assert await read_model.api_key(intake.store.pool, intake.store.schema, made.key_id) is None
