"""Frontdesk services notify."""
