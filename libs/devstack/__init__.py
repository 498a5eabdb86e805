"""Frontdesk libs devstack."""
