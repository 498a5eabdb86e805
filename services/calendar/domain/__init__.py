"""The calendar service's pure domain: no I/O, no clock of its own, no framework."""
