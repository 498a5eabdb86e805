"""Why a command or request was refused, by kind: the one error set every service shares.

Pure (standard library only): every service's domain may raise these. The message is meant
for people; libs.platform.problems maps each kind to one HTTP status.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal a service makes; the message says why, and `errors` may list
    the things that stand in the way, one line each (the answer's `errors`)."""

    errors: tuple[str, ...] = ()


class NotFound(DomainError):
    """The request names something that does not exist (a client, a call, an invoice)."""


class Conflict(DomainError):
    """Well-formed, but the current state does not allow it (answering an ended call)."""


class Rejected(DomainError):
    """Well-formed, but against a business rule (invoicing a month that has not ended)."""


class Forbidden(DomainError):
    """The request does not prove it may do this (a wrong acknowledgement token)."""


class Unauthenticated(DomainError):
    """The caller is not known: no credentials where some are needed, or a bad or expired token."""

    def __init__(self, message: str, *, missing_credentials: bool = False) -> None:
        super().__init__(message)
        self.missing_credentials = missing_credentials
