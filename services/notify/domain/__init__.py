"""The notify domain, pure: what notify knows of clients and calls, and what goes out when.

Modules: `model` (clients and calls folded from events), `schedule` (local days and openings),
`filters` (which clients and calls a notification is for), `plan` (the notifications),
`retry` (how hard a notification is tried). Import from them directly.
"""
