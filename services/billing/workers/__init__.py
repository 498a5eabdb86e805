"""Billing's long-running loops: the mail sender and the payment-reminder timer."""
