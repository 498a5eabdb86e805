"""The calendar port over Google Calendar API v3: one calendar of a Google account.

Google's CalDAV endpoint has no free/busy, so Google calendars are read and written through
the Calendar API (google-api-python-client, with the discovery document that ships inside
it: no network fetch of the document). The account's OAuth refresh token buys short-lived
access tokens from Google's token endpoint (google-auth); both the token endpoint and the API
root are parameters, so tests point them at a local server.

The library is synchronous: every port call runs in a worker thread with its own
httplib2.Http (whose socket timeout is the adapter's timeout), bounded as a whole by
asyncio.timeout. Whatever goes wrong is raised as CalendarUnavailable with a short reason of
our own: never the library's text (it can quote a server's answer) and never a secret.

Appointments get an event id of our own (base32hex, derived from the appointment's id), so a
second write of the same appointment finds the first (409 on insert, then update), and the
entry's UID reported back is the appointment's UID whatever iCalUID Google assigned: the API
reference says only one of id and iCalUID should be supplied when an event is created.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar
from uuid import UUID

import google_auth_httplib2  # type: ignore[import-untyped]  # no stubs
import httplib2  # type: ignore[import-untyped]  # no stubs
from google.auth import exceptions as auth_exceptions
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build  # type: ignore[import-untyped]  # no stubs
from googleapiclient.errors import Error as ApiClientError  # type: ignore[import-untyped]
from googleapiclient.errors import HttpError

from libs.availability import Interval
from services.calendar.adapters.port import CalendarUnavailable, Entry
from services.calendar.domain.appointments import UID_DOMAIN, Appointment

T = TypeVar("T")

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105  # an address
GOOGLE_API_ROOT = "https://www.googleapis.com/"
SERVICE_PATH = "calendar/v3/"
"""Where Calendar API v3 lives under the API root (the discovery document's servicePath)."""

EVENT_ID_PREFIX = "frontdesk"
"""Starts the id of every event we write; base32hex itself (letters a-v only)."""
_OUR_EVENT_ID = re.compile(rf"^{EVENT_ID_PREFIX}([0-9a-f]{{32}})$")
PAGE_SIZE = 250
MAX_PAGES = 40
"""More pages than this for one day's window is taken as a server gone wrong."""


def event_id(appointment_id: UUID) -> str:
    """The Google event id of an appointment: stable, base32hex, 41 characters."""
    return f"{EVENT_ID_PREFIX}{appointment_id.hex}"


def _appointment_uid(google_event_id: str) -> str | None:
    """The appointment UID behind one of our event ids; None for anybody else's event."""
    match = _OUR_EVENT_ID.match(google_event_id)
    if match is None:
        return None
    return f"{UUID(hex=match.group(1))}@{UID_DOMAIN}"


def _our_event_id(uid: str) -> str | None:
    """Our event id for an appointment UID; None when the UID is not one of ours."""
    name, _, domain = uid.partition("@")
    if domain != UID_DOMAIN:
        return None
    try:
        return event_id(UUID(name))
    except ValueError:
        return None


class GoogleCalendar:
    """One Google calendar, as the calendar port.

    `calendar_id` is the calendar's id ("primary", or an address such as
    "c_...@group.calendar.google.com"); the OAuth client id and secret and the refresh token
    are those the client granted us. All-day events are read as whole days in UTC.
    """

    def __init__(
        self,
        calendar_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        token_uri: str = GOOGLE_TOKEN_URI,
        api_root: str = GOOGLE_API_ROOT,
        timeout: float = 5.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the timeout must be positive")
        if not calendar_id:
            raise ValueError("a calendar id is needed")
        self.calendar_id = calendar_id
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.token_uri = token_uri
        self.api_root = api_root if api_root.endswith("/") else f"{api_root}/"
        self.timeout = timeout
        self._credentials = Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=refresh_token,
            token_uri=token_uri,
            client_id=client_id,
            client_secret=client_secret,
        )
        self._service: Any = None
        self._service_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"GoogleCalendar(calendar_id={self.calendar_id!r}, client_id={self.client_id!r}, "
            f"token_uri={self.token_uri!r}, api_root={self.api_root!r}, "
            f"timeout={self.timeout!r})"
        )

    # ------------------------------------------------------------------ the port

    async def entries(self, start: datetime, end: datetime) -> list[Entry]:
        """The entries overlapping [start, end), recurring ones expanded, by start."""
        window = Interval(start, end)
        return await self._call(lambda http: self._entries(http, window))

    async def busy(self, start: datetime, end: datetime, *, ignoring: str = "") -> list[Interval]:
        """The busy time in [start, end), without the entry whose UID is `ignoring`.

        Without `ignoring`, Google's free/busy answer; with it, the calendar's own events
        (free/busy cannot leave one event out).
        """
        window = Interval(start, end)
        if not ignoring:
            return await self._call(lambda http: self._free_busy(http, window))
        result = []
        for entry in await self.entries(start, end):
            if entry.busy and entry.uid != ignoring:
                result.append(Interval(max(entry.when.start, start), min(entry.when.end, end)))
        return result

    async def put(self, appointment: Appointment) -> None:
        """Write the appointment (create, or replace the entry with its UID)."""
        await self._call(lambda http: self._put(http, appointment))

    async def remove(self, uid: str) -> bool:
        """Delete the entry with this UID; False when there was none."""
        return await self._call(lambda http: self._remove(http, uid))

    # ------------------------------------------------------------------ the work (in a thread)

    def _entries(self, http: google_auth_httplib2.AuthorizedHttp, window: Interval) -> list[Entry]:
        entries = []
        for event in self._events(
            http,
            singleEvents=True,
            orderBy="startTime",
            timeMin=_rfc3339(window.start),
            timeMax=_rfc3339(window.end),
        ):
            entry = _entry(event)
            if entry is not None and entry.when.overlaps(window):
                entries.append(entry)
        entries.sort(key=lambda e: (e.when.start, e.when.end, e.uid))
        return entries

    def _free_busy(
        self, http: google_auth_httplib2.AuthorizedHttp, window: Interval
    ) -> list[Interval]:
        body = {
            "timeMin": _rfc3339(window.start),
            "timeMax": _rfc3339(window.end),
            "items": [{"id": self.calendar_id}],
        }
        answer = self._service_for().freebusy().query(body=body).execute(http=http)
        calendars = answer["calendars"]
        if self.calendar_id not in calendars and len(calendars) == 1:
            calendars = {self.calendar_id: next(iter(calendars.values()))}  # "primary" resolved
        calendar = calendars[self.calendar_id]
        if calendar.get("errors"):
            reasons = {str(error.get("reason", "")) for error in calendar["errors"]}
            if "notFound" in reasons:
                raise CalendarUnavailable("the calendar was not found at Google")
            raise CalendarUnavailable("Google could not give the calendar's free/busy time")
        result = []
        for period in calendar.get("busy", []):
            begins = max(_instant(period["start"]), window.start)
            ends = min(_instant(period["end"]), window.end)
            if begins < ends:
                result.append(Interval(begins, ends))
        return sorted(result)

    def _put(self, http: google_auth_httplib2.AuthorizedHttp, appointment: Appointment) -> None:
        events = self._service_for().events()
        body = _event_body(appointment)
        try:
            events.insert(calendarId=self.calendar_id, body=body).execute(http=http)
        except HttpError as exc:
            if exc.resp.status != 409:
                raise
            # Written before (perhaps deleted since: Google keeps the id, and an update with
            # status "confirmed" brings the event back).
            events.update(calendarId=self.calendar_id, eventId=body["id"], body=body).execute(
                http=http
            )

    def _remove(self, http: google_auth_httplib2.AuthorizedHttp, uid: str) -> bool:
        ours = _our_event_id(uid)
        if ours is not None:
            return self._delete(http, ours)
        found = [
            event["id"]
            for event in self._events(http, iCalUID=uid)
            if event.get("status") != "cancelled"
        ]
        deleted = [self._delete(http, found_id) for found_id in found]
        return any(deleted)

    def _delete(self, http: google_auth_httplib2.AuthorizedHttp, google_event_id: str) -> bool:
        """Delete one event; False when it was not there (404) or deleted already (410)."""
        try:
            self._service_for().events().delete(
                calendarId=self.calendar_id, eventId=google_event_id
            ).execute(http=http)
        except HttpError as exc:
            if exc.resp.status in (404, 410) and self._calendar_exists(http):
                return False
            raise
        return True

    def _calendar_exists(self, http: google_auth_httplib2.AuthorizedHttp) -> bool:
        """Whether the calendar itself is there (a 404 may mean the event or the calendar)."""
        try:
            self._service_for().events().list(calendarId=self.calendar_id, maxResults=1).execute(
                http=http
            )
        except HttpError as exc:
            if exc.resp.status in (404, 410):
                return False
            raise
        return True

    def _events(
        self, http: google_auth_httplib2.AuthorizedHttp, **query: Any
    ) -> Iterator[dict[str, Any]]:
        """Every event events.list gives for the query, page after page."""
        events = self._service_for().events()
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = events.list(
                calendarId=self.calendar_id, maxResults=PAGE_SIZE, pageToken=token, **query
            ).execute(http=http)
            items = page.get("items", [])
            if not isinstance(items, list):
                raise TypeError("the event list is not a list")
            yield from items
            token = page.get("nextPageToken")
            if not token:
                return
        raise ValueError("the event list did not end")

    # ------------------------------------------------------------------ plumbing

    def _service_for(self) -> Any:
        """The Calendar v3 client, built once from the discovery document in the library.

        Its own http object is never used: every request is executed with the call's
        AuthorizedHttp, so calls in different threads share no connection.
        """
        with self._service_lock:
            if self._service is None:
                self._service = build(
                    "calendar",
                    "v3",
                    http=httplib2.Http(timeout=self.timeout),
                    static_discovery=True,
                    cache_discovery=False,
                    client_options={"api_endpoint": f"{self.api_root}{SERVICE_PATH}"},
                )
            return self._service

    async def _call(self, work: Callable[[google_auth_httplib2.AuthorizedHttp], T]) -> T:
        """Run `work` in a worker thread with a fresh authorized http, bounded by the timeout."""
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.to_thread(self._run, work)
        except CalendarUnavailable:
            raise
        except Exception as exc:
            raise CalendarUnavailable(self._reason(exc)) from None

    def _run(self, work: Callable[[google_auth_httplib2.AuthorizedHttp], T]) -> T:
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=self.timeout)
        )
        try:
            return work(http)
        finally:
            http.close()

    def _reason(self, exc: BaseException) -> str:
        """A short reason for the failure, in our words (never a secret)."""
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, TimeoutError) or isinstance(cause, TimeoutError):
            reason = f"Google's calendar did not answer within {self.timeout:g} s"
        elif isinstance(exc, auth_exceptions.RefreshError):
            reason = "Google refused the calendar's credentials (the grant may be revoked)"
        elif isinstance(exc, HttpError):
            reason = _http_reason(exc.resp.status)
        elif isinstance(exc, auth_exceptions.TransportError | httplib2.HttpLib2Error | OSError):
            reason = "Google's calendar could not be reached"
        elif isinstance(exc, ApiClientError | ValueError | KeyError | TypeError | IndexError):
            reason = f"Google's answer could not be read ({type(exc).__name__})"
        else:
            reason = f"the Google calendar could not be used ({type(exc).__name__})"
        return self._scrubbed(reason)

    def _scrubbed(self, text: str) -> str:
        for secret in (self._refresh_token, self._client_secret, self._credentials.token):
            if secret:
                text = text.replace(secret, "***")
        return text


def _http_reason(status: int) -> str:
    if status == 401:
        return "Google refused the calendar's credentials"
    if status == 403:
        return "Google refused access to the calendar (permission or quota)"
    if status in (404, 410):
        return "the calendar was not found at Google"
    if status == 429:
        return "Google asked us to slow down (HTTP 429)"
    if status >= 500:
        return f"Google's calendar failed (HTTP {status})"
    return f"Google refused the request (HTTP {status})"


def _entry(event: dict[str, Any]) -> Entry | None:
    """The entry an event (or an expanded instance) stands for; None if cancelled or empty."""
    if event.get("status") == "cancelled":
        return None
    begins, ends = _when(event["start"]), _when(event["end"])
    if ends <= begins:
        return None
    ours = _appointment_uid(str(event.get("id", "")))
    return Entry(
        uid=ours if ours is not None else str(event.get("iCalUID", "")),
        when=Interval(begins, ends),
        title=str(event.get("summary", "")),
        busy=event.get("transparency", "opaque") != "transparent",
    )


def _when(value: dict[str, Any]) -> datetime:
    """An event's start or end: a date-time, or a date taken as midnight UTC."""
    if "dateTime" in value:
        return _instant(value["dateTime"])
    day = date.fromisoformat(value["date"])
    return datetime.combine(day, time(), tzinfo=UTC)


def _instant(text: str) -> datetime:
    """An RFC 3339 time stamp as an aware instant in UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time stamp without offset")
    return moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event_body(appointment: Appointment) -> dict[str, Any]:
    """The appointment as a Calendar v3 Event resource, times in UTC."""
    body: dict[str, Any] = {
        "id": event_id(appointment.appointment_id),
        "status": "confirmed",
        "summary": appointment.title,
        "start": {"dateTime": _rfc3339(appointment.when.start)},
        "end": {"dateTime": _rfc3339(appointment.when.end)},
        "transparency": "opaque",
        "location": appointment.location,
        "description": appointment.description,
        "attendees": [],
    }
    attendee = appointment.attendee
    if attendee is not None and attendee.email:
        guest: dict[str, Any] = {"email": attendee.email}
        if attendee.name:
            guest["displayName"] = attendee.name
        body["attendees"] = [guest]
    return body
