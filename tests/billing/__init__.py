"""Tests of the billing service."""
