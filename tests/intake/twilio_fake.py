"""A local HTTP server that answers the part of Twilio's REST API intake uses, checking each
request as Twilio would: Basic auth with the account's SID and token, the account in the
path, the number looked up by PhoneNumber, a form-encoded update of VoiceUrl."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-token"


@dataclass
class FakeTwilio:
    """The numbers the account owns (E.164 -> PN sid) and the updates it received."""

    numbers: dict[str, str]
    updates: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers"
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refused(self) -> bool:
            if self.headers.get("Authorization") != expected:
                self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return True
            return False

        def do_GET(self) -> None:
            if self._refused():
                return
            url = urlsplit(self.path)
            if url.path != prefix + ".json":
                self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            wanted = parse_qs(url.query).get("PhoneNumber", [""])[0]
            found = [{"sid": sid, "phone_number": n, "account_sid": ACCOUNT_SID}
                     for n, sid in fake.numbers.items() if n == wanted]  # fmt: skip
            self._answer(200, {"incoming_phone_numbers": found, "next_page_uri": None,
                               "page": 0, "page_size": 1, "uri": url.path})  # fmt: skip

        def do_POST(self) -> None:
            if self._refused():
                return
            match = re.fullmatch(re.escape(prefix) + r"/(PN\w+)\.json", self.path)
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            is_form = self.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"
            )
            if match is None or match[1] not in fake.numbers.values() or not is_form:
                self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            fake.updates.append({"sid": match[1], **{k: v[0] for k, v in form.items()}})
            self._answer(200, {"sid": match[1], "voice_url": form.get("VoiceUrl", [""])[0]})

    return Handler


@contextmanager
def fake_twilio(numbers: dict[str, str]) -> Iterator[FakeTwilio]:
    """The fake Twilio API on a free local port, for the duration of the block."""
    fake = FakeTwilio(numbers)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
