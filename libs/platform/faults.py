"""Crash points for failure tests: a process kills itself with SIGKILL at a named point.

FRONTDESK_CRASH_AT="relay.after_send:3" kills the process the third time that point is
reached. Without the variable every crash point is a no-op.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if FRONTDESK_CRASH_AT names this point and hit count."""
    spec = os.environ.get("FRONTDESK_CRASH_AT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(count or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
