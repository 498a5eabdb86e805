"""Notify's long-running loops: the sender and the digest schedule."""
