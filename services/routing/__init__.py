"""Frontdesk services routing."""
