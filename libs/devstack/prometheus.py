"""Prometheus and promtool from Debian's `prometheus` package, unpacked into the shared cache.

The package is fetched with `apt-get download` and unpacked with `dpkg-deb -x`: no service is
installed or started on the machine, and nothing but the two binaries is used.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from libs.devstack.kafka import HOST, _file_lock, default_cache_dir

PACKAGE = "prometheus"
_MARKER = ".complete"


class PrometheusUnavailable(RuntimeError):
    """Prometheus could not be fetched, started or reached."""


@dataclass(frozen=True)
class PrometheusTools:
    """The two binaries of the package."""

    prometheus: Path
    promtool: Path


def ensure_prometheus(cache_dir: Path | None = None) -> PrometheusTools:
    """Unpack Debian's prometheus package into the cache unless it is there; return its tools."""
    root = (cache_dir or default_cache_dir()) / PACKAGE
    tools = PrometheusTools(root / "usr/bin/prometheus", root / "usr/bin/promtool")
    if (root / _MARKER).exists():
        return tools
    root.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(root.parent / f".{PACKAGE}.lock"):
        if not (root / _MARKER).exists():
            _unpack(root)
    return tools


def _unpack(root: Path) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise PrometheusUnavailable(f"`{tool}` is not on PATH; Prometheus comes from Debian")
    with tempfile.TemporaryDirectory() as download:
        deb = _download(Path(download))
        shutil.rmtree(root, ignore_errors=True)
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    version = _run([str(root / "usr/bin/promtool"), "--version"]).splitlines()[0]
    (root / _MARKER).write_text(version + "\n")


def _download(into: Path) -> Path:
    try:
        _run(["apt-get", "download", PACKAGE], cwd=into)
    except PrometheusUnavailable:
        if os.geteuid() != 0:
            raise
        _run(["apt-get", "update", "-qq"])  # a fresh machine may not have package lists yet
        _run(["apt-get", "download", PACKAGE], cwd=into)
    found = sorted(into.glob(f"{PACKAGE}_*.deb"))
    if not found:
        raise PrometheusUnavailable("apt-get download left no prometheus package")
    return found[0]


def _run(command: list[str], cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PrometheusUnavailable(f"{command[0]} did not finish within 300 s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise PrometheusUnavailable(f"{' '.join(command)} failed ({result.returncode}):\n{output}")
    return result.stdout + result.stderr


class LocalPrometheus:
    """A Prometheus server on 127.0.0.1 with its own data directory."""

    def __init__(self, tools: PrometheusTools, config: Path, home: Path, port: int) -> None:
        self._tools = tools
        self._config = config
        self._home = home
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's HTTP address."""
        return f"http://{HOST}:{self.port}"

    async def start(self, timeout: float = 60) -> None:  # noqa: ASYNC109
        """Start the server and wait until it says it is ready."""
        self._process = self._spawn()
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while asyncio.get_running_loop().time() < deadline:
                if self._process.poll() is not None:
                    raise PrometheusUnavailable(f"prometheus exited:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise PrometheusUnavailable(f"prometheus not ready within {timeout} s:\n{self.log_tail()}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._home.mkdir(parents=True, exist_ok=True)
        command = [str(self._tools.prometheus), f"--config.file={self._config}"]
        command += [f"--storage.tsdb.path={self._home / 'data'}"]
        command += [f"--web.listen-address={HOST}:{self.port}", "--web.enable-lifecycle"]
        with (self._home / "prometheus.log").open("ab") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def log_tail(self) -> str:
        """The end of the server's log."""
        path = self._home / "prometheus.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""
