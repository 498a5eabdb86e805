"""The calendar service: the clients' calendars on the operator's screen, appointments booked
from a call, and the callbacks the bureau keeps (issue: calendar). Built in steps: so far the
pure domain (availability, appointments) and the calendar port with its CalDAV adapter.
"""
