"""Tests of the event plumbing against the real broker and database."""
