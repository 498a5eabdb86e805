"""Routing's long-running loops: the escalation timers and the roster gauge."""
