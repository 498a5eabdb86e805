"""A real Radicale CalDAV server for tests: a subprocess on 127.0.0.1 and a free port.

Its storage lives in a folder of the test session; it checks a user and password against a
plain htpasswd file (Radicale 3.5 and later deny every login unless told otherwise), and each
user may only see their own collections (Radicale's default `owner_only` rights).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import free_port, log_tail, stop_process

USER = "frontdesk"
PASSWORD = "radicale-test-secret"
OTHER_USER = "someone-else"
OTHER_PASSWORD = "other-test-secret"

CONFIG = """\
[server]
hosts = 127.0.0.1:{port}
timeout = 30

[auth]
type = htpasswd
htpasswd_filename = {htpasswd}
htpasswd_encryption = plain
delay = 0.1

[rights]
type = owner_only

[storage]
filesystem_folder = {storage}

[logging]
level = warning
mask_passwords = True
"""


@dataclass
class Radicale:
    """One Radicale process with its config, storage and log under `home`."""

    home: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(
        default_factory=lambda: {USER: PASSWORD, OTHER_USER: OTHER_PASSWORD}
    )
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's root URL."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.home / "radicale.log"

    def user_url(self, user: str = USER) -> str:
        """The user's principal and calendar home (Radicale keeps both at /<user>/)."""
        return f"{self.url}{user}/"

    def start(self, timeout: float = 30) -> None:
        """Write the config and htpasswd file, start the server, wait until it answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        htpasswd = self.home / "htpasswd"
        htpasswd.write_text("".join(f"{user}:{secret}\n" for user, secret in self.users.items()))
        storage = self.home / "collections"
        storage.mkdir(exist_ok=True)
        config = self.home / "config"
        config.write_text(CONFIG.format(port=self.port, htpasswd=htpasswd, storage=storage))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"radicale exited: {self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"radicale did not answer: {self.log_tail()}")

    def _answers(self) -> bool:
        """Whether the server checks a login: the user gets their principal, 207."""
        try:
            response = httpx.request(
                "PROPFIND",
                self.user_url(),
                auth=(USER, self.users[USER]),
                headers={"Depth": "0"},
                timeout=1,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 207

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        stop_process(self.proc, 10)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        return log_tail(self.log_path, lines)
