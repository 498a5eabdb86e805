"""Frontdesk services calls."""
