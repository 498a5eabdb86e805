"""Frontdesk services intake."""
