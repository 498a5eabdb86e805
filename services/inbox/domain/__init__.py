"""The inbox's pure domain."""
