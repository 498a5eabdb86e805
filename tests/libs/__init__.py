"""Tests of the pure shared libraries."""
