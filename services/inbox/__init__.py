"""The inbox service: the clients' mail, answered within the agreed time."""
