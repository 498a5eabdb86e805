"""Frontdesk services billing."""
