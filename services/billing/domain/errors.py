"""The refusals of the billing domain, by kind; the API maps each kind to one HTTP status."""

from __future__ import annotations


class BillingError(Exception):
    """Base of every refusal billing makes; the message says why."""


class NotFound(BillingError):
    """The request names a client or invoice billing does not know."""


class Conflict(BillingError):
    """The request does not fit the current state (an invoice already paid in full)."""


class Rejected(BillingError):
    """Well-formed, but against the rules (invoicing a month that has not ended)."""
