"""Tests of the event catalogue in libs/events."""
