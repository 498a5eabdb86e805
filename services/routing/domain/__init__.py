"""The routing domain, pure: call routing, the operator roster and escalation chains."""
