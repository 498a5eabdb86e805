"""The refusals of the notify service, by kind; the API maps each kind to one HTTP status."""

from __future__ import annotations


class NotifyError(Exception):
    """Base of every refusal notify makes; the message says why."""


class NotFound(NotifyError):
    """The request names something notify does not know (a client, a notification)."""


class Rejected(NotifyError):
    """The request is well-formed but cannot be honoured (a digest for a future day)."""
