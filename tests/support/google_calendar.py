"""A local stand-in for Google Calendar API v3 that holds every request to Google's own contract.

No test reaches Google. This server, on 127.0.0.1 and a free port, implements the part of
Calendar API v3 the adapter uses (OAuth token endpoint; freebusy.query; events.list with
iCalUID, singleEvents (daily and weekly RRULEs with COUNT expanded), time bounds and paging;
events.insert, events.update, events.delete), with the events in memory.

Every request and every response it sees is checked against the discovery document for
calendar v3 that ships inside google-api-python-client, the document the client library
itself is generated from: the HTTP verb and path must be a method of the document, path and
query parameters must be declared for that method (or be one of the API's global
parameters) with the declared type, enum, pattern, format and bounds, required ones present,
and JSON bodies must validate against the method's request and response schemas, converted to
JSON Schema (`$ref`, types, properties, items, additionalProperties; a property the document
does not declare is refused; fields the document marks required for the method are required;
`date-time` and `date` strings must be RFC 3339). A request that does not fit is answered 400
and recorded in `violations`; a response that does not fit is recorded too. Tests assert the
record is empty. A few rules stated only in the document's descriptions are held as well
(event ids in base32hex, orderBy=startTime only with singleEvents, only one of id and iCalUID
on insert).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import uuid4

import googleapiclient
import jsonschema

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache/documents/calendar.v3.json"

CLIENT_ID = "frontdesk-test.apps.googleusercontent.com"
CLIENT_SECRET = "google-test-client-secret"
REFRESH_TOKEN = "1//google-test-refresh-token"
CALENDAR_ID = "client@example.com"
"""The calendar the test account may write (an address: it must be escaped in paths)."""
READ_ONLY_CALENDAR_ID = "shared-read-only@example.com"
"""A calendar the test account may only read."""

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BASE32HEX_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_INT32 = (-(2**31), 2**31 - 1)


class Violation(Exception):
    """A request that Google's discovery document (or its stated rules) does not allow."""


# ---------------------------------------------------------------------- the contract


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(_is_datetime)
FORMATS.checks("date")(_is_date)


@dataclass(frozen=True)
class Method:
    """One method of the discovery document, with its path template as a regex."""

    id: str
    http_method: str
    path: re.Pattern[str]
    desc: dict[str, Any]


class Contract:
    """The calendar v3 discovery document, as checks on requests and responses."""

    def __init__(self, path: Path = DISCOVERY) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text())
        self.service_path = "/" + self.doc["servicePath"]
        self.global_parameters: dict[str, Any] = self.doc["parameters"]
        self.methods = list(self._methods(self.doc.get("resources", {})))
        self._validators: dict[tuple[str, str | None], jsonschema.protocols.Validator] = {}
        self._lock = threading.Lock()

    def _methods(self, resources: dict[str, Any]) -> Iterator[Method]:
        for resource in resources.values():
            for desc in resource.get("methods", {}).values():
                yield Method(desc["id"], desc["httpMethod"], _template(desc["path"]), desc)
            yield from self._methods(resource.get("resources", {}))

    # -- requests

    def method_for(self, verb: str, raw_path: str) -> tuple[Method, dict[str, str]]:
        """The method this verb and path call, and its path parameters (decoded)."""
        if not raw_path.startswith(self.service_path):
            raise Violation(f"{raw_path} is not under the API's path {self.service_path}")
        rest = raw_path[len(self.service_path) :]
        matched = [(m, found) for m in self.methods if (found := m.path.fullmatch(rest))]
        if not matched:
            raise Violation(f"no method of calendar v3 has the path {rest!r}")
        for method, found in matched:
            if method.http_method == verb:
                params = {name: unquote(value) for name, value in found.groupdict().items()}
                for name, value in params.items():
                    self._check_value(method, name, method.desc["parameters"][name], value)
                return method, params
        verbs = sorted({m.http_method for m, _ in matched})
        raise Violation(f"{verb} {rest!r}: calendar v3 only has {verbs} there")

    def check_query(self, method: Method, query: dict[str, list[str]]) -> None:
        """Every query parameter declared (by the method or globally), typed, required present."""
        declared: dict[str, Any] = method.desc.get("parameters", {})
        for name, values in query.items():
            spec = declared.get(name, self.global_parameters.get(name))
            if spec is None:
                raise Violation(f"{method.id} has no parameter {name!r}")
            if spec.get("location") != "query":
                raise Violation(f"{method.id}: {name!r} belongs in the path, not the query")
            if len(values) > 1 and not spec.get("repeated"):
                raise Violation(f"{method.id}: {name!r} may be given once")
            for value in values:
                self._check_value(method, name, spec, value)
        for name, spec in declared.items():
            if spec.get("required") and spec.get("location") == "query" and name not in query:
                raise Violation(f"{method.id} needs the parameter {name!r}")

    def _check_value(self, method: Method, name: str, spec: dict[str, Any], value: str) -> None:
        kind = spec.get("type", "string")
        where = f"{method.id}: {name}={value!r}"
        if kind == "boolean":
            if value not in ("true", "false"):
                raise Violation(f"{where} is not a boolean")
        elif kind == "integer":
            if not re.fullmatch(r"-?\d+", value):
                raise Violation(f"{where} is not an integer")
            number = int(value)
            low = int(spec.get("minimum", _INT32[0]))
            high = int(spec.get("maximum", _INT32[1]))
            if not low <= number <= high:
                raise Violation(f"{where} is outside [{low}, {high}]")
        elif kind == "number":
            try:
                float(value)
            except ValueError:
                raise Violation(f"{where} is not a number") from None
        if "enum" in spec and value not in spec["enum"]:
            raise Violation(f"{where} is none of {spec['enum']}")
        if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
            raise Violation(f"{where} does not match {spec['pattern']!r}")
        if spec.get("format") == "date-time" and not _is_datetime(value):
            raise Violation(f"{where} is not an RFC 3339 date-time")
        if kind == "string" and spec.get("location") == "path" and not value:
            raise Violation(f"{where}: a path parameter may not be empty")

    def check_request_body(self, method: Method, content_type: str, body: bytes) -> Any:
        """The request's JSON body, valid for the method's request schema; None if it has none."""
        request = method.desc.get("request")
        if request is None:
            if body:
                raise Violation(f"{method.id} takes no request body")
            return None
        if not content_type.startswith("application/json"):
            raise Violation(f"{method.id}: the body must be JSON, not {content_type!r}")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Violation(f"{method.id}: the body is not JSON") from None
        self._validate(method, request["$ref"], payload, for_request=True)
        return payload

    # -- responses

    def check_response(self, method: Method, payload: Any) -> None:
        """The (2xx) answer fits the method's response schema, or is empty if it has none."""
        response = method.desc.get("response")
        if response is None:
            if payload is not None:
                raise Violation(f"{method.id} answers without a body")
            return
        self._validate(method, response["$ref"], payload, for_request=False)

    # -- schemas

    def _validate(self, method: Method, name: str, payload: Any, *, for_request: bool) -> None:
        validator = self.validator(name, method.id if for_request else None)
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        if errors:
            where = "request" if for_request else "response"
            first = errors[0]
            path = "/".join(str(p) for p in first.absolute_path) or "(top)"
            raise Violation(f"{method.id} {where} body at {path}: {first.message}")

    def validator(self, name: str, method_id: str | None = None) -> jsonschema.protocols.Validator:
        """A validator for schema `name`; with `method_id`, its fields required by that method."""
        with self._lock:
            key = (name, method_id)
            if key not in self._validators:
                defs = {
                    schema_name: _json_schema(schema, method_id)
                    for schema_name, schema in self.doc["schemas"].items()
                }
                root = {"$defs": defs, "$ref": f"#/$defs/{name}"}
                jsonschema.Draft202012Validator.check_schema(root)
                self._validators[key] = jsonschema.Draft202012Validator(
                    root, format_checker=FORMATS
                )
            return self._validators[key]


def _template(path: str) -> re.Pattern[str]:
    """A discovery path template ("calendars/{calendarId}/events") as a regex."""
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]*)\})?", path):
        pattern += re.escape(literal)
        if name.startswith("+"):
            pattern += f"(?P<{name[1:]}>.+)"
        elif name:
            pattern += f"(?P<{name}>[^/]+)"
    return re.compile(pattern)


def _json_schema(schema: dict[str, Any], method_id: str | None) -> dict[str, Any]:
    """A discovery schema as JSON Schema (undeclared properties refused)."""
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    kind = schema.get("type")
    result: dict[str, Any] = {}
    if kind == "any" or kind is None:
        return result
    if kind == "string":
        result["type"] = "string"
        if schema.get("format") in ("date-time", "date"):
            result["format"] = schema["format"]
        elif schema.get("format") in ("int64", "uint64"):
            result["pattern"] = r"^-?\d+$"
    elif kind == "integer":
        result["type"] = "integer"
        if schema.get("format") == "int32":
            result["minimum"], result["maximum"] = _INT32
    elif kind in ("number", "boolean"):
        result["type"] = kind
    elif kind == "array":
        result["type"] = "array"
        result["items"] = _json_schema(schema.get("items", {}), method_id)
    elif kind == "object":
        result["type"] = "object"
        properties = schema.get("properties", {})
        result["properties"] = {
            name: _json_schema(prop, method_id) for name, prop in properties.items()
        }
        if "additionalProperties" in schema:
            result["additionalProperties"] = _json_schema(schema["additionalProperties"], method_id)
        else:
            result["additionalProperties"] = False
        if method_id is not None:
            required = [
                name
                for name, prop in properties.items()
                if method_id in prop.get("annotations", {}).get("required", [])
            ]
            if required:
                result["required"] = required
    else:
        raise ValueError(f"a discovery type this converter does not know: {kind!r}")
    if "enum" in schema:
        result["enum"] = schema["enum"]
    if "pattern" in schema:
        result["pattern"] = schema["pattern"]
    return result


# ---------------------------------------------------------------------- the calendar


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _bounds(event: dict[str, Any]) -> tuple[datetime, datetime]:
    """An event's start and end as instants (all-day: midnight UTC, the calendar's zone)."""

    def one(value: dict[str, Any]) -> datetime:
        if "dateTime" in value:
            return _instant(value["dateTime"])
        return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), UTC)

    return one(event["start"]), one(event["end"])


def _shifted(value: dict[str, Any], by: timedelta) -> dict[str, Any]:
    if "dateTime" in value:
        moved = {"dateTime": _stamp(_instant(value["dateTime"]) + by)}
    else:
        moved = {"date": (date.fromisoformat(value["date"]) + by).isoformat()}
    if "timeZone" in value:
        moved["timeZone"] = value["timeZone"]
    return moved


def _rule(event: dict[str, Any]) -> tuple[timedelta, int] | None:
    """The step and count of the event's RRULE (FREQ=DAILY/WEEKLY, COUNT, INTERVAL)."""
    rules = [line for line in event.get("recurrence", []) if line.startswith("RRULE:")]
    if not rules:
        return None
    if len(rules) > 1 or len(event["recurrence"]) > 1:
        raise NotImplementedError("the local server expands one RRULE and nothing else")
    parts = dict(part.split("=", 1) for part in rules[0].removeprefix("RRULE:").split(";"))
    unknown = set(parts) - {"FREQ", "COUNT", "INTERVAL"}
    if unknown or parts.get("FREQ") not in ("DAILY", "WEEKLY") or "COUNT" not in parts:
        raise NotImplementedError(f"the local server cannot expand {rules[0]!r}")
    days = (1 if parts["FREQ"] == "DAILY" else 7) * int(parts.get("INTERVAL", "1"))
    return timedelta(days=days), int(parts["COUNT"])


def _instances(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's occurrences as Google returns them with singleEvents=true."""
    rule = _rule(event)
    if rule is None:
        return [event]
    step, count = rule
    result = []
    for n in range(count):
        start = _shifted(event["start"], step * n)
        instance = {k: deepcopy(v) for k, v in event.items() if k != "recurrence"}
        key = start.get("dateTime", start.get("date", ""))
        suffix = re.sub(r"[-:]|\.000", "", key)
        instance.update(
            id=f"{event['id']}_{suffix}",
            recurringEventId=event["id"],
            originalStartTime=deepcopy(start),
            start=start,
            end=_shifted(event["end"], step * n),
        )
        result.append(instance)
    return result


class Refused(Exception):
    """An answer Google gives to a well-formed request: 404, 409, 410, 403 ..."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@functools.cache
def shared_contract() -> Contract:
    """The one Contract of the test session (its validators take a while to build)."""
    return Contract()


class FakeGoogleCalendar:
    """The local Calendar v3 and token endpoint; start(), stop(), or use as a context manager.

    `calendars` maps calendar ids to their events by id; `read_only` names calendars the
    account may read but not write. `page_size` caps the events of one list page (small, so
    tests see paging). `tamper` may rewrite 2xx answers (a server gone wrong); what it makes
    is checked against the document like every answer. `requests` logs (method id, query).
    """

    def __init__(self) -> None:
        self.contract = shared_contract()
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {
            CALENDAR_ID: {},
            READ_ONLY_CALENDAR_ID: {},
        }
        self.read_only = {READ_ONLY_CALENDAR_ID}
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.refresh_tokens = {REFRESH_TOKEN}
        self.access_tokens: set[str] = set()
        self.page_size = 250
        self.tamper: Callable[[str, Any], Any] | None = None
        self.violations: list[str] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.token_requests = 0
        self._lock = threading.RLock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def port(self) -> int:
        assert self._http is not None, "the server is not started"
        return int(self._http.server_address[1])

    @property
    def api_root(self) -> str:
        """The root URL to give the adapter in place of https://www.googleapis.com/."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def token_uri(self) -> str:
        """The token endpoint to give the adapter in place of Google's."""
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> FakeGoogleCalendar:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.02,), name="fake-google", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeGoogleCalendar:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- planting and looking

    def add_event(self, calendar_id: str = CALENDAR_ID, **fields: Any) -> dict[str, Any]:
        """Store an event as another calendar app would have made it (checked as an Event)."""
        event_id = fields.pop("id", uuid4().hex)
        event = self._stored(calendar_id, event_id, fields, sequence=0)
        if "iCalUID" in fields:
            event["iCalUID"] = fields["iCalUID"]
        errors = list(self.contract.validator("Event").iter_errors(event))
        if errors:
            raise ValueError(f"not an Event: {errors[0].message}")
        _instances(event)  # the server can expand it
        with self._lock:
            self.calendars[calendar_id][event_id] = event
        return event

    def events(self, calendar_id: str = CALENDAR_ID) -> list[dict[str, Any]]:
        """The calendar's events that are not deleted."""
        with self._lock:
            stored = list(self.calendars[calendar_id].values())
        return [e for e in stored if e.get("status") != "cancelled"]

    def record(self, violation: str) -> None:
        with self._lock:
            self.violations.append(violation)

    # -- the token endpoint

    def token(self, content_type: str, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.token_requests += 1
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise Violation("the token endpoint takes a form")
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("grant_type") != "refresh_token":
            raise Violation(f"unexpected grant type {form.get('grant_type')!r}")
        missing = {"client_id", "client_secret", "refresh_token"} - set(form)
        if missing:
            raise Violation(f"the refresh grant lacks {sorted(missing)}")
        if form["client_id"] != self.client_id or form["client_secret"] != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if form["refresh_token"] not in self.refresh_tokens:
            return 400, {
                "error": "invalid_grant",
                "error_description": "Token has been expired or revoked.",
            }
        access = f"ya29.{secrets.token_urlsafe(24)}"
        with self._lock:
            self.access_tokens.add(access)
        return 200, {
            "access_token": access,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/calendar",
        }

    # -- the API

    def call(
        self, method: Method, path: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Any:
        """The answer to a request that passed the contract; Refused for Google's refusals."""
        with self._lock:
            handler = {
                "calendar.events.list": self._list,
                "calendar.events.insert": self._insert,
                "calendar.events.update": self._update,
                "calendar.events.delete": self._delete,
                "calendar.freebusy.query": self._free_busy,
            }.get(method.id)
            if handler is None:
                raise Refused(501, "notImplemented", f"the local server lacks {method.id}")
            args = {k: v[-1] for k, v in query.items()}
            try:
                answer = handler(path, args, body)
            except Refused:
                self.requests.append((method.id, query))
                raise
            self.requests.append((method.id, query))
            return answer

    def _calendar(self, path: dict[str, str], *, write: bool = False) -> dict[str, Any]:
        calendar = self.calendars.get(path["calendarId"])
        if calendar is None:
            raise Refused(404, "notFound", "Not Found")
        if write and path["calendarId"] in self.read_only:
            raise Refused(403, "requiredAccessLevel", "You need to have writer access")
        return calendar

    def _list(self, path: dict[str, str], args: dict[str, str], body: Any) -> Any:
        calendar = self._calendar(path)
        single = args.get("singleEvents") == "true"
        if args.get("orderBy") == "startTime" and not single:
            raise Violation("orderBy=startTime is only available with singleEvents=true")
        events = list(calendar.values())
        if "iCalUID" in args:
            events = [e for e in events if e.get("iCalUID") == args["iCalUID"]]
        if single:
            events = [i for e in events for i in _instances(e)]
        if args.get("showDeleted") != "true":
            events = [e for e in events if e.get("status") != "cancelled"]
        low = _instant(args["timeMin"]) if "timeMin" in args else None
        high = _instant(args["timeMax"]) if "timeMax" in args else None
        if low and high and high <= low:
            raise Violation("timeMax must be greater than timeMin")
        events = [
            e
            for e in events
            if (low is None or _bounds(e)[1] > low) and (high is None or _bounds(e)[0] < high)
        ]
        if args.get("orderBy") == "startTime":
            events.sort(key=lambda e: (_bounds(e)[0], e["id"]))
        else:
            events.sort(key=lambda e: e["id"])
        offset = 0
        if "pageToken" in args:
            if not re.fullmatch(r"p\d+", args["pageToken"]):
                raise Violation(f"{args['pageToken']!r} is no page token this server gave")
            offset = int(args["pageToken"][1:])
        size = min(self.page_size, int(args.get("maxResults", "250")), 2500)
        page = events[offset : offset + size]
        answer: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{secrets.token_hex(8)}"',
            "summary": path["calendarId"],
            "updated": _stamp(datetime.now(UTC)),
            "timeZone": "UTC",
            "accessRole": "reader" if path["calendarId"] in self.read_only else "owner",
            "defaultReminders": [],
            "items": deepcopy(page),
        }
        if offset + size < len(events):
            answer["nextPageToken"] = f"p{offset + size}"
        else:
            answer["nextSyncToken"] = f"s{secrets.token_hex(8)}"
        return answer

    def _insert(self, path: dict[str, str], args: dict[str, str], body: Any) -> Any:
        calendar = self._calendar(path, write=True)
        if "id" in body and "iCalUID" in body:
            raise Violation("only one of id and iCalUID should be supplied at event creation")
        event_id = body.get("id") or uuid4().hex
        if not _BASE32HEX_ID.match(event_id):
            raise Violation(f"event id {event_id!r} is not 5-1024 characters of base32hex")
        if event_id in calendar:
            raise Refused(409, "duplicate", "The requested identifier already exists.")
        self._times(body)
        event = self._stored(path["calendarId"], event_id, body, sequence=0)
        if "iCalUID" in body:
            event["iCalUID"] = body["iCalUID"]
        calendar[event_id] = event
        return deepcopy(event)

    def _update(self, path: dict[str, str], args: dict[str, str], body: Any) -> Any:
        calendar = self._calendar(path, write=True)
        old = calendar.get(path["eventId"])
        if old is None:
            raise Refused(404, "notFound", "Not Found")
        if body.get("id", old["id"]) != old["id"]:
            raise Violation("the body's id differs from the event's")
        self._times(body)
        event = self._stored(
            path["calendarId"], old["id"], body, sequence=old.get("sequence", 0) + 1
        )
        event["created"], event["iCalUID"] = old["created"], old["iCalUID"]
        calendar[old["id"]] = event
        return deepcopy(event)

    def _delete(self, path: dict[str, str], args: dict[str, str], body: Any) -> Any:
        calendar = self._calendar(path, write=True)
        event = calendar.get(path["eventId"])
        if event is None:
            raise Refused(404, "notFound", "Not Found")
        if event.get("status") == "cancelled":
            raise Refused(410, "deleted", "Resource has been deleted")
        event["status"] = "cancelled"
        event["updated"] = _stamp(datetime.now(UTC))
        return None

    def _free_busy(self, path: dict[str, str], args: dict[str, str], body: Any) -> Any:
        if "timeMin" not in body or "timeMax" not in body:
            raise Violation("freebusy.query needs timeMin and timeMax")
        low, high = _instant(body["timeMin"]), _instant(body["timeMax"])
        if high <= low:
            raise Violation("timeMax must be greater than timeMin")
        calendars: dict[str, Any] = {}
        for item in body.get("items", []):
            calendar = self.calendars.get(item.get("id", ""))
            if calendar is None:
                calendars[item.get("id", "")] = {
                    "errors": [{"domain": "global", "reason": "notFound"}],
                    "busy": [],
                }
                continue
            spans = sorted(
                (max(start, low), min(end, high))
                for event in calendar.values()
                if event.get("status") != "cancelled"
                and event.get("transparency", "opaque") == "opaque"
                for instance in _instances(event)
                for start, end in [_bounds(instance)]
                if start < high and end > low
            )
            merged: list[list[datetime]] = []
            for start, end in spans:
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            calendars[item["id"]] = {
                "busy": [{"start": _stamp(s), "end": _stamp(e)} for s, e in merged]
            }
        return {
            "kind": "calendar#freeBusy",
            "timeMin": _stamp(low),
            "timeMax": _stamp(high),
            "calendars": calendars,
        }

    @staticmethod
    def _times(body: dict[str, Any]) -> None:
        for side in ("start", "end"):
            given = {"date", "dateTime"} & set(body[side])
            if len(given) != 1:
                raise Violation(f"the event's {side} needs exactly one of date and dateTime")
        start, end = _bounds(body)
        if end < start:
            raise Refused(400, "timeRangeEmpty", "The specified time range is empty.")

    def _stored(
        self, calendar_id: str, event_id: str, body: dict[str, Any], *, sequence: int
    ) -> dict[str, Any]:
        """The event resource as Google keeps and returns it."""
        now = _stamp(datetime.now(UTC))
        event = {k: deepcopy(v) for k, v in body.items() if k != "iCalUID"}
        event.update(
            kind="calendar#event",
            etag=f'"{secrets.randbelow(10**15)}"',
            id=event_id,
            status=body.get("status", "confirmed"),
            htmlLink=f"https://www.google.com/calendar/event?eid={event_id}",
            created=now,
            updated=now,
            creator={"email": calendar_id, "self": True},
            organizer={"email": calendar_id, "self": True},
            iCalUID=f"{event_id}@google.com",
            sequence=sequence,
            reminders={"useDefault": True},
            eventType="default",
        )
        if event.get("transparency") == "opaque":
            del event["transparency"]  # Google leaves the default out
        for guest in event.get("attendees", []):
            guest.setdefault("responseStatus", "needsAction")
        return event


class _Handler(BaseHTTPRequestHandler):
    """One request: the contract first, then the calendar, then the contract on the answer."""

    fake: FakeGoogleCalendar
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests look at `violations` and `requests`."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        url = urlsplit(self.path)
        try:
            if url.path == "/token" and self.command == "POST":
                status, payload = self.fake.token(content_type, body)
                self._send(status, payload)
                return
            method, path_params = self.fake.contract.method_for(self.command, url.path)
            query = parse_qs(url.query, keep_blank_values=True)
            self.fake.contract.check_query(method, query)
            payload = self.fake.contract.check_request_body(method, content_type, body)
            if not self._authorized():
                self._error(401, "authError", "Invalid Credentials")
                return
            answer = self.fake.call(method, path_params, query, payload)
        except Violation as violation:
            self.fake.record(f"{self.command} {url.path}: {violation}")
            self._error(400, "invalid", str(violation))
            return
        except Refused as refused:
            self._error(refused.status, refused.reason, refused.message)
            return
        except Exception as exc:  # a bug of this server: make it loud
            self.fake.record(f"{self.command} {url.path}: the local server failed: {exc!r}")
            self._error(500, "backendError", "the local server failed")
            return
        if self.fake.tamper is not None:
            answer = self.fake.tamper(method.id, answer)
        try:
            self.fake.contract.check_response(method, answer)
        except Violation as violation:
            self.fake.record(f"answer to {self.command} {url.path}: {violation}")
        if answer is None:
            self._send(204, None)
        else:
            self._send(200, answer)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme == "Bearer" and token in self.fake.access_tokens

    def _error(self, status: int, reason: str, message: str) -> None:
        errors = [{"domain": "global", "reason": reason, "message": message}]
        self._send(status, {"error": {"code": status, "message": message, "errors": errors}})

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SilentServer:
    """A port that takes connections and never answers (the kernel accepts; nobody reads)."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/"

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
