"""Why a command was refused: the domain's three kinds of error."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors a decision raises; the message is meant for people."""


class NotFound(DomainError):
    """The client, number or book version the command names does not exist."""


class Conflict(DomainError):
    """The command is well-formed but the current state does not allow it."""


class Invalid(DomainError):
    """The command's content breaks a business rule on its own."""
