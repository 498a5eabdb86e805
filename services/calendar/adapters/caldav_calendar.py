"""The calendar port over CalDAV (RFC 4791): one calendar on Nextcloud, iCloud, Radicale ...

Every call opens its own client of the caldav library (async, on httpx), finds the
calendar (once; its URL is kept), does its work and closes the client, all within the
adapter's timeout. Recurring events are expanded client-side by the library, so servers that
expand badly or not at all give the same answer. Whatever goes wrong is raised as
CalendarUnavailable with a short reason of our own: never the library's text, which could
quote a server's answer, and never the password.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TypeVar
from urllib.parse import urljoin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import icalendar
from caldav import aio
from caldav.elements import cdav, dav
from caldav.lib import error

from libs.availability import Interval
from services.calendar.adapters.port import CalendarUnavailable, Entry
from services.calendar.domain.appointments import Appointment

T = TypeVar("T")

PRODID = "-//Frontdesk//Calendar//EN"
CALENDAR_TYPE = "{urn:ietf:params:xml:ns:caldav}calendar"
TIMEZONE_PROP = "{urn:ietf:params:xml:ns:caldav}calendar-timezone"


class CalDavCalendar:
    """One calendar of a CalDAV account, as the calendar port.

    `url` is the server (or the account's principal) when `calendar` names the calendar, or
    the calendar itself when `calendar` is empty. `calendar` is the calendar's URL (absolute,
    or a path on the server) or its display name. All-day and floating events are read in the
    calendar's own time zone (its CalDAV calendar-timezone), UTC when it has none.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        calendar: str = "",
        *,
        timeout: float = 5.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the timeout must be positive")
        self.url = url
        self.username = username
        self._password = password
        self.calendar = calendar
        self.timeout = timeout
        self._calendar_url: str | None = None
        self._zone: tzinfo = UTC

    def __repr__(self) -> str:
        return (
            f"CalDavCalendar(url={self.url!r}, username={self.username!r}, "
            f"calendar={self.calendar!r}, timeout={self.timeout!r})"
        )

    # ------------------------------------------------------------------ the port

    async def entries(self, start: datetime, end: datetime) -> list[Entry]:
        """The entries overlapping [start, end), recurring ones expanded, by start."""
        window = Interval(start, end)
        return await self._call(lambda cal: self._entries(cal, window))

    async def busy(self, start: datetime, end: datetime, *, ignoring: str = "") -> list[Interval]:
        """The busy time in [start, end), without the entry whose UID is `ignoring`."""
        result = []
        for entry in await self.entries(start, end):
            if entry.busy and not (ignoring and entry.uid == ignoring):
                result.append(Interval(max(entry.when.start, start), min(entry.when.end, end)))
        return result

    async def put(self, appointment: Appointment) -> None:
        """Write the appointment (create, or replace the entry with its UID)."""
        await self._call(lambda cal: self._put(cal, appointment))

    async def remove(self, uid: str) -> bool:
        """Delete the entry with this UID; False when there was none."""
        return await self._call(lambda cal: self._remove(cal, uid))

    # ------------------------------------------------------------------ the work

    async def _entries(self, cal: aio.Calendar, window: Interval) -> list[Entry]:
        found: list[aio.CalendarObjectResource] = await _awaited(
            cal.search(
                event=True,
                start=window.start.astimezone(self._zone),
                end=window.end.astimezone(self._zone),
                expand=True,
            )
        )
        entries = []
        for resource in found:
            for component in resource.icalendar_instance.walk("VEVENT"):
                entry = self._entry(component)
                if entry is not None and entry.when.overlaps(window):
                    entries.append(entry)
        entries.sort(key=lambda e: (e.when.start, e.when.end, e.uid))
        return entries

    def _entry(self, event: icalendar.Event) -> Entry | None:
        """The entry an (expanded) VEVENT stands for; None if cancelled or taking no time."""
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            return None
        if event.get("DTSTART") is None:
            raise ValueError("an event without DTSTART")
        start = event.decoded("DTSTART")
        if event.get("DTEND") is not None:
            end = event.decoded("DTEND")
        elif event.get("DURATION") is not None:
            end = start + event.decoded("DURATION")
        elif isinstance(start, datetime):
            end = start  # RFC 5545: a DTSTART date-time alone takes no time
        else:
            end = start + timedelta(days=1)  # a DTSTART date alone is that whole day
        begins, ends = self._instant(start), self._instant(end)
        if ends <= begins:
            return None
        return Entry(
            uid=str(event.get("UID", "")),
            when=Interval(begins, ends),
            title=str(event.get("SUMMARY", "")),
            busy=str(event.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT",
        )

    def _instant(self, value: date | datetime) -> datetime:
        """An aware instant: dates at midnight and floating times in the calendar's zone."""
        if not isinstance(value, datetime):
            value = datetime.combine(value, time(), tzinfo=self._zone)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=self._zone)
        return value.astimezone(UTC)

    async def _put(self, cal: aio.Calendar, appointment: Appointment) -> None:
        existing = await self._by_uid(cal, appointment.uid)
        if existing is None:
            await _awaited(cal.add_event(_ical(appointment, sequence=0), increase_seqno=False))
            return
        sequence = int(existing.icalendar_component.get("SEQUENCE", 0)) + 1
        existing.data = _ical(appointment, sequence=sequence)
        await _awaited(existing.save(increase_seqno=False, only_this_recurrence=False))

    async def _remove(self, cal: aio.Calendar, uid: str) -> bool:
        existing = await self._by_uid(cal, uid)
        if existing is None:
            return False
        try:
            await _awaited(existing.delete())
        except error.NotFoundError:
            return False  # deleted meanwhile by someone else
        return True

    async def _by_uid(self, cal: aio.Calendar, uid: str) -> aio.CalendarObjectResource | None:
        """The calendar object with exactly this UID, or None.

        Not Calendar.get_event_by_uid: its NotFoundError would not tell "no such entry" from
        "no such calendar" (a 404), and the latter must be CalendarUnavailable.
        """
        found: list[aio.CalendarObjectResource] = await _awaited(
            cal.search(event=True, uid=uid, post_filter=True, _hacks="insist")
        )
        matches = [resource for resource in found if resource.id == uid]
        return matches[0] if matches else None

    # ------------------------------------------------------------------ plumbing

    async def _call(self, work: Callable[[aio.Calendar], Awaitable[T]]) -> T:
        """Run `work` on the calendar with a fresh client, bounded by the timeout."""
        try:
            async with asyncio.timeout(self.timeout):
                client = aio.AsyncDAVClient(
                    url=self.url,
                    username=self.username,
                    password=self._password,
                    timeout=self.timeout,  # type: ignore[arg-type]  # seconds, float works
                    enable_rfc6764=False,
                    require_tls=False,
                )
                async with client:
                    return await work(await self._calendar(client))
        except CalendarUnavailable:
            raise
        except Exception as exc:
            raise CalendarUnavailable(self._reason(exc)) from None

    async def _calendar(self, client: aio.AsyncDAVClient) -> aio.Calendar:
        """The calendar, found on first use (by URL or display name) and kept by URL."""
        if self._calendar_url is not None:
            return _calendar_at(client, self._calendar_url)
        name = self.calendar
        if name and not (name.startswith("/") or "://" in name):
            calendar = await self._named(client, name)
        else:
            calendar = _calendar_at(client, urljoin(self.url, name) if name else self.url)
        props = await _awaited(
            calendar.get_properties([dav.ResourceType(), cdav.CalendarTimeZone()])
        )
        if CALENDAR_TYPE not in (props.get(dav.ResourceType.tag) or []):
            raise CalendarUnavailable("the address given is not a calendar")
        self._zone = _zone(props.get(TIMEZONE_PROP))
        self._calendar_url = str(calendar.url)
        return calendar

    async def _named(self, client: aio.AsyncDAVClient, name: str) -> aio.Calendar:
        principal = await client.get_principal()
        calendar: aio.Calendar
        for calendar in await _awaited(principal.get_calendars()):
            if await _awaited(calendar.get_display_name()) == name:
                return calendar
        raise CalendarUnavailable("the account has no calendar of that name")

    def _reason(self, exc: BaseException) -> str:
        """A short reason for the failure, in our words (never the password)."""
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if isinstance(exc, TimeoutError) or any("Timeout" in kind for kind in kinds):
            reason = f"the calendar server did not answer within {self.timeout:g} s"
        elif isinstance(exc, error.AuthorizationError):
            reason = (
                "the calendar server refused the credentials"
                if exc.status != 403
                else "the calendar server refused access to the calendar"
            )
        elif isinstance(exc, error.NotFoundError):
            reason = "the calendar was not found on the server"
        elif isinstance(exc, error.DAVError):
            status = f" (HTTP {exc.status})" if exc.status else ""
            reason = f"the calendar server refused the request{status}"
        elif isinstance(exc, OSError | httpx.TransportError) or "ConnectionError" in kinds:
            reason = "the calendar server could not be reached"
        elif isinstance(exc, ValueError | KeyError | IndexError | AssertionError):
            reason = f"the calendar server's answer could not be read ({type(exc).__name__})"
        else:
            reason = f"the calendar could not be used ({type(exc).__name__})"
        if self._password:
            reason = reason.replace(self._password, "***")
        return reason


def _calendar_at(client: aio.AsyncDAVClient, url: str) -> aio.Calendar:
    """The calendar at `url`, for the async client (the dual-mode classes are typed for sync)."""
    return aio.Calendar(client=client, url=url)  # type: ignore[arg-type]


async def _awaited(result: T | Awaitable[T]) -> T:
    """The result of a dual-mode caldav call: with the async client always a coroutine."""
    if inspect.isawaitable(result):
        done: T = await result
        return done
    return result


def _ical(appointment: Appointment, *, sequence: int) -> str:
    """The appointment as a VCALENDAR with one VEVENT, times in UTC."""
    event = icalendar.Event()
    event.add("UID", appointment.uid)
    event.add("DTSTAMP", datetime.now(UTC))
    event.add("DTSTART", appointment.when.start.astimezone(UTC))
    event.add("DTEND", appointment.when.end.astimezone(UTC))
    event.add("SEQUENCE", sequence)
    event.add("SUMMARY", appointment.title)
    if appointment.location:
        event.add("LOCATION", appointment.location)
    if appointment.description:
        event.add("DESCRIPTION", appointment.description)
    attendee = appointment.attendee
    if attendee is not None and attendee.email:
        address = icalendar.vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["CN"] = attendee.name
        address.params["ROLE"] = "REQ-PARTICIPANT"
        event.add("ATTENDEE", address)
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add_component(event)
    text: str = calendar.to_ical().decode()
    return text


def _zone(vtimezone: object) -> tzinfo:
    """The time zone of a calendar-timezone property (a VCALENDAR with a VTIMEZONE); UTC if none."""
    if not isinstance(vtimezone, str) or "VTIMEZONE" not in vtimezone:
        return UTC
    try:
        timezones = icalendar.Calendar.from_ical(vtimezone).walk("VTIMEZONE")
        if not timezones or not isinstance(timezones[0], icalendar.Timezone):
            return UTC
        tzid = str(timezones[0].get("TZID", ""))
        try:
            return ZoneInfo(tzid)
        except (ZoneInfoNotFoundError, ValueError):
            zone: tzinfo = timezones[0].to_tz()
            return zone
    except ValueError:
        return UTC
