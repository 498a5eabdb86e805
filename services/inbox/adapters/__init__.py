"""The inbox's adapters: the inbound SMTP listener (and, next, the IMAP reader)."""
