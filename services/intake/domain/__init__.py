"""The intake domain: clients, numbers, the secretary book and plans. Pure: no I/O."""
