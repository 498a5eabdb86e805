"""The refusals of the routing domain, by kind; the API maps each kind to one HTTP status."""

from __future__ import annotations


class RoutingError(Exception):
    """Base of every refusal the routing domain makes; the message says why."""


class NotFound(RoutingError):
    """The command names something that does not exist (an escalation, an operator)."""


class Conflict(RoutingError):
    """The command does not fit the current state (acknowledging an exhausted escalation)."""


class Rejected(RoutingError):
    """The command is well-formed but breaks a rule (a contact that was never reached)."""


class Forbidden(RoutingError):
    """The request does not prove it may do this (a wrong acknowledgement token)."""
