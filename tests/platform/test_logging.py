"""The Kafka client's retry loop cannot flood the logs; every other line goes out."""

from __future__ import annotations

import logging

from libs.platform.logging import RepeatFilter


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_a_repeated_kafka_client_line_goes_out_once_per_interval_with_the_count_held_back() -> None:
    clock = Ticking()
    repeats = RepeatFilter(interval=10, clock=clock)
    unable = "Unable connect to node with id %s: %s"
    passed = [repeats.filter(_record("aiokafka", unable, 1, "refused")) for _ in range(5000)]
    assert passed.count(True) == 1
    clock.now = 10.5
    again = _record("aiokafka", unable, 1, "refused")
    assert repeats.filter(again)
    assert again.getMessage() == (
        "Unable connect to node with id 1: refused (4999 more like this held back)"
    )


def test_other_lines_and_other_loggers_pass_untouched() -> None:
    repeats = RepeatFilter(interval=10, clock=Ticking())
    assert repeats.filter(_record("aiokafka.consumer.fetcher", "Failed fetch messages"))
    assert repeats.filter(_record("aiokafka", "Unable to update metadata from %s", [1]))
    assert all(repeats.filter(_record("uvicorn.error", "same line")) for _ in range(100))
