"""Command handlers of intake: lock the client, load its streams, decide, append, project.

The shared runner (libs/platform/commands.py) appends each stream at the version it was
loaded at, projects the read tables in the same transaction and decides again after a
concurrent writer's conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from uuid import UUID

from libs.errors import Conflict, NotFound
from libs.events import ApiKeyIssued, ApiKeyRevoked, Event, NumberAssigned, NumberReleased, decode
from libs.events.intake import NumberAddedToPool
from libs.platform.commands import (
    Loaded,
    PostgresTransaction,
    Steps,
    on_postgres,
    run,
)
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.intake import read_model
from services.intake.domain.commands import (
    AddNumbersToPool,
    AssignNumber,
    Command,
    IssueApiKey,
    RegisterClient,
    ReleaseNumber,
    RevokeApiKey,
)
from services.intake.domain.decide import decide
from services.intake.domain.phone import normalise_number
from services.intake.domain.pool import OFFERABLE_SQL
from services.intake.domain.state import State, fold


def client_stream(client_id: UUID) -> str:
    """The stream of a client's own events (lifecycle, book, plan, preferences)."""
    return f"client-{client_id}"


def number_stream(number: str) -> str:
    """The stream of one forwarding number: who held it when. One holder at a time."""
    return f"number-{number}"


def api_key_stream(key_id: UUID) -> str:
    """The stream of one API key: issued, then perhaps revoked."""
    return f"api-key-{key_id}"


def stream_of(event: Event) -> str:
    """The stream an intake event is appended to."""
    if isinstance(event, NumberAssigned | NumberReleased | NumberAddedToPool):
        return number_stream(event.number)
    if isinstance(event, ApiKeyIssued | ApiKeyRevoked):
        return api_key_stream(event.key_id)
    return client_stream(event.client_id)


async def execute(store: EventStore, command: Command) -> list[Event]:
    """Run the command; a concurrent writer makes it decide again on the fresh state."""
    current = [command]  # a reservation of "the next free number" names it on loading

    async def load(tx: PostgresTransaction) -> Loaded[State]:
        current[0] = await _load_command(tx, command)
        return await _history(tx.conn, tx.schema, current[0])

    steps: Steps[PostgresTransaction, State] = Steps(
        load=load,
        decide=lambda _, state: _decide(current[0], state),
        stream_of=stream_of,
        project=_project,
    )
    done = await run(on_postgres(store), steps, what=_what(command))
    return done.events


def _what(command: Command) -> str:
    return "the pool" if isinstance(command, AddNumbersToPool) else f"client {command.client_id}"


async def _load_command(tx: PostgresTransaction, command: Command) -> Command:
    """Take the locks the command needs; a reservation without a number gets the next free."""
    if isinstance(command, RegisterClient | AddNumbersToPool):
        return command
    await _lock_client(tx.conn, tx.schema, command.client_id)
    if isinstance(command, AssignNumber) and command.number is None:
        return replace(command, number=await _next_free(tx.conn, tx.schema, command))
    return command


async def _next_free(conn: Connection, schema: str, command: AssignNumber) -> str:
    # SKIP LOCKED: concurrent reservations each take a different row instead of queueing for
    # the same one; the number's stream version still refuses a second holder if one slipped by
    number = await conn.fetchval(
        f"SELECT number FROM {schema}.number_pool WHERE {OFFERABLE_SQL} "
        "ORDER BY added_at, number LIMIT 1 FOR UPDATE SKIP LOCKED",
        command.at,
    )
    if number is None:
        raise Conflict("the pool has no free number: add numbers to it first (POST /numbers)")
    return str(number)


async def _decide(command: Command, state: State) -> list[Event]:
    return decide(command, state)


async def _project(tx: PostgresTransaction, _: Loaded[State], events: Sequence[Event]) -> None:
    await read_model.project(tx.conn, tx.schema, events)


async def _lock_client(conn: Connection, schema: str, client_id: UUID) -> None:
    # Commands on one client take turns: a number cannot be assigned while the client leaves.
    found = await conn.fetchval(
        f"SELECT true FROM {schema}.clients WHERE client_id = $1 FOR UPDATE", client_id
    )
    if not found:
        raise NotFound(f"no client {client_id}")


async def _history(conn: Connection, schema: str, command: Command) -> Loaded[State]:
    """The client's events and those of the number or key the command names, in log order."""
    streams = [client_stream(command.client_id)]
    if isinstance(command, AssignNumber | ReleaseNumber) and command.number is not None:
        streams.append(number_stream(normalise_number(command.number)))
    if isinstance(command, AddNumbersToPool):
        streams.extend(number_stream(normalise_number(n)) for n in command.numbers)
    if isinstance(command, IssueApiKey | RevokeApiKey):
        streams.append(api_key_stream(command.key_id))
    rows = await conn.fetch(
        f"SELECT stream_id, stream_version, payload FROM {schema}.events "
        "WHERE client_id = $1 OR stream_id = ANY($2::text[]) ORDER BY position",
        command.client_id, streams,
    )  # fmt: skip
    versions: dict[str, int] = {}
    for row in rows:
        versions[row["stream_id"]] = max(versions.get(row["stream_id"], 0), row["stream_version"])
    return Loaded(fold(decode(row["payload"]) for row in rows), versions)


async def client_history(store: EventStore, client_id: UUID) -> list[Event]:
    """Every event of the client (its stream and its numbers' events), in log order."""
    rows = await store.pool.fetch(
        f"SELECT payload FROM {store.schema}.events WHERE client_id = $1 ORDER BY position",
        client_id,
    )
    return [decode(row["payload"]) for row in rows]
