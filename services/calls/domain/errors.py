"""The calls domain's named refusals: the two ways a call or its number is not found."""

from __future__ import annotations

from libs.errors import NotFound


class CallNotFound(NotFound):
    """No call has this id."""


class NumberNotHeld(NotFound):
    """No (current) client holds the dialled number."""
