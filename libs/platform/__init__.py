"""Infrastructure shared by the services: settings, clock, event store, relay, consumers."""
