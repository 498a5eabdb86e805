"""Frontdesk tests."""
