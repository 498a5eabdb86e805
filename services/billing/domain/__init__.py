"""The billing domain, pure: a fold over intake, calls, notify and billing events into invoices.

Import from the modules themselves: `ledger` (the fold), `decisions` (per call), `documents`
(invoice runs), `issue` (commands into events), `wallet`, `replay`, `what_if` and their helpers.
"""
