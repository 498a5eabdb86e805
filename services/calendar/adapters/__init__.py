"""The calendar port and its adapters: one interface, a CalDAV and (later) a Google adapter."""
