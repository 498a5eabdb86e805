"""Frontdesk services."""
