"""structlog configured for JSON lines with the service name bound.

The Kafka client retries a broker that is away in a tight loop and logs every attempt (tens of
thousands of lines a minute); its repeated lines are let through once per interval, the next
one saying how many were held back.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import structlog

REPEAT_INTERVAL_SECONDS = 10.0
NOISY_LOGGERS = ("aiokafka",)


class RepeatFilter(logging.Filter):
    """Passes a noisy logger's message (by its template) once per interval; counts the rest."""

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        loggers: tuple[str, ...] = NOISY_LOGGERS,
    ) -> None:
        super().__init__()
        self.interval, self.clock, self.loggers = interval, clock, loggers
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether `record` goes out: any of other loggers, the first of its kind otherwise."""
        if not record.name.startswith(self.loggers):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        last, held = self._seen.get(key, (float("-inf"), 0))
        if now - last < self.interval:
            self._seen[key] = (last, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this held back)"
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON log lines to stderr, each carrying the service name."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    for handler in logging.getLogger().handlers:  # a filter here sees the child loggers too
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
