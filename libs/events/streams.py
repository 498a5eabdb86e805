"""One entity's event stream folded into its state: the first event starts it, each next one
moves it on and counts one more version (the version an append expects next)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from libs.events.envelope import Event


class Versioned(Protocol):
    """A frozen dataclass state that knows how many events of its stream it has seen."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def version(self) -> int:
        """Events folded so far."""
        ...


S = TypeVar("S", bound=Versioned)
E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class StreamFold(Generic[S, E]):
    """How the state of one kind of entity follows from the events of its stream."""

    starts_with: type[E]
    start: Callable[[E], S]
    apply: Callable[[S, Event], S]

    def evolve(self, state: S | None, event: Event) -> S:
        """The state after one more event; a stream must open with `starts_with`."""
        if state is None:
            if not isinstance(event, self.starts_with):
                what = self.starts_with.__name__
                raise ValueError(f"the stream starts with {what}, not {event.type}")
            return self.start(event)
        return replace(self.apply(state, event), version=state.version + 1)

    def fold(self, events: Iterable[Event], state: S | None = None) -> S | None:
        """The state after all the events (None when there are none and no state was given)."""
        for event in events:
            state = self.evolve(state, event)
        return state


def opened_by(state_type: type[S], event: Event, **given: Any) -> S:
    """The first state of a stream: every field its opening event has under the same name,
    then the fields `given` (those named differently, or worked out)."""
    carried = type(event).model_fields
    taken = {
        f.name: getattr(event, f.name)
        for f in fields(state_type)
        if f.name in carried and f.name not in given
    }
    return state_type(**taken, **given)
