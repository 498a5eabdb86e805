"""Shared libraries of the Frontdesk services."""
