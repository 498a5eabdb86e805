"""Test support code: real processes, real infrastructure."""
