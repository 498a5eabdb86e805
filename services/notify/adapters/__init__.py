"""Notify's adapters: one module per outside system (SMTP, the SMS provider, chat webhooks)."""
