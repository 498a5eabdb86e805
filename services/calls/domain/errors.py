"""The refusals of the calls domain, by kind; the API maps each kind to one HTTP status."""

from __future__ import annotations


class CallsError(Exception):
    """Base of every refusal the calls domain makes; the message says why."""


class NotFound(CallsError):
    """The command names something that does not exist (a call, a number's client)."""


class CallNotFound(NotFound):
    """No call has this id."""


class NumberNotHeld(NotFound):
    """No (current) client holds the dialled number."""


class Conflict(CallsError):
    """The command does not fit the call's current state (answering an ended call)."""


class Rejected(CallsError):
    """The command is well-formed but breaks a business rule (a cold call not agreed)."""
