"""An event store held in memory, with the PostgreSQL store's semantics, for service tests.

Streams, the global log and the outbox are plain lists. An append checks and writes without
awaiting in between, so on one event loop it is atomic: of concurrent appends at the same
version exactly one wins, as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from libs.events.catalogue import decode, encode, topic_for
from libs.events.envelope import Event, Service
from libs.platform.store import (
    DEFAULT_MAX_EVENT_BYTES,
    ConcurrencyConflict,
    StoredEvent,
    check_owner,
    encoded_within,
)


@dataclass(frozen=True)
class OutboxEntry:
    """A message the relay would publish: one per appended event, in append order."""

    event_id: UUID
    event_type: str
    topic: str
    key: str
    value: bytes


class MemoryEventStore:
    """Append-only event store with an outbox list, for tests without a database."""

    def __init__(
        self,
        *,
        service: Service,
        prefix: str = "frontdesk",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.service, self.prefix, self.max_event_bytes = service, prefix, max_event_bytes
        self.outbox: list[OutboxEntry] = []
        self._log: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}

    async def append(
        self, stream_id: str, expected_version: int | None, events: Sequence[Event]
    ) -> int:
        """Append events after `expected_version` (None: at the end); returns the new version."""
        for event in events:
            check_owner(self.service, event)
            encoded_within(event, self.max_event_bytes)
        current = self._current(stream_id)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyConflict(stream_id, expected_version, current)
        for offset, event in enumerate(events, start=1):
            self._write(stream_id, current + offset, event)
        return current + len(events)

    def _write(self, stream_id: str, version: int, event: Event) -> None:
        # Round-trip through the wire form, as PostgreSQL does: an event that cannot be
        # stored there fails here too, and readers get their own copy.
        data = encode(event)
        stored = StoredEvent(len(self._log) + 1, stream_id, version, decode(data))
        self._log.append(stored)
        self._streams.setdefault(stream_id, []).append(stored)
        topic = topic_for(event.service, self.prefix)
        self.outbox.append(
            OutboxEntry(event.event_id, event.type, topic, str(event.client_id), data)
        )

    def _current(self, stream_id: str) -> int:
        stream = self._streams.get(stream_id, [])
        return stream[-1].stream_version if stream else 0

    async def version(self, stream_id: str) -> int:
        """The stream's current version (0 for a stream with no events)."""
        return self._current(stream_id)

    async def load(self, stream_id: str) -> list[StoredEvent]:
        """Every event of a stream, in order."""
        return list(self._streams.get(stream_id, []))

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events of every stream after a global position, in append order."""
        # Positions are 1-based and dense, so the ones after `after` start at index `after`.
        return self._log[max(after, 0) : max(after, 0) + limit]
