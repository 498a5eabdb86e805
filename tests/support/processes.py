"""Service processes started by tests, exactly as in production: `python -m libs.platform.serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from libs.platform.settings import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]


_HANDED_OUT: set[int] = set()
"""Ports free_port gave before in this test session: never given twice, so two processes
started side by side cannot be handed the same port before either has bound it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, not handed out before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free on 127.0.0.1 right now."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports found")


def free_port_offset(first: int, last: int, step: int) -> int:
    """An offset in [first, last) that leaves the stack's five service ports and SMTP free."""
    for offset in range(first, last, step):
        ports = [p + offset for p in DEFAULT_PORTS.values()] + [1025 + offset]
        if all(_free(port) for port in ports):
            return offset
    raise RuntimeError("no free block of ports for the stack")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class ServiceProcess:
    """One service process with its own environment; killed at the end of the test."""

    target: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the process's HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(
        self,
        *,
        extra_env: dict[str, str] | None = None,
        timeout: float = 60,
        wait_started: bool = True,
    ) -> None:
        """Start the process and wait until its HTTP API answers (and its start-up is done)."""
        base = {k: v for k, v in os.environ.items() if k != "FRONTDESK_CRASH_AT"}
        env = {**base, **self.env, **(extra_env or {}), "FRONTDESK_HTTP_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "libs.platform.serve", self.target],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_for(self._live, timeout)
        if wait_started:
            self._wait_for(self._started, timeout)

    def _wait_for(self, answered: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.target} exited: {self.log_tail()}")
            try:
                if answered():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.target} did not start: {self.log_tail()}")

    def _live(self) -> bool:
        # the answer must come from this process, not from another one on the same port
        answer = httpx.get(f"{self.url}/health/live", timeout=1)
        pid = answer.json().get("pid") if answer.status_code == 200 else None
        if pid is not None and self.proc is not None and pid != self.proc.pid:
            raise RuntimeError(f"another process (pid {pid}) answers on {self.url}")
        return answer.status_code == 200

    def _started(self) -> bool:
        """Start-up is done: the schema is migrated and the background tasks run."""
        return bool(httpx.get(f"{self.url}/health/ready", timeout=3).json().get("started"))

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the process to end by itself (e.g. at a crash point)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        stop_process(self.proc, 20)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log, for failure messages."""
        return log_tail(self.log_path, lines)


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then SIGKILL if the process has not stopped within `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a log file, for failure messages ("" before there is one)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
