"""A real Apache Kafka broker (one KRaft node, broker and controller) run from Maven jars."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from libs.devstack.maven import require_tool, run_maven

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.2"
LOG4J_VERSION = "2.24.3"
HOST = "127.0.0.1"
_MARKER = ".complete"
_TAIL_BYTES = 4000

POM_TEMPLATE = Path(__file__).with_name("kafka-pom.xml")

LOG4J2_PROPERTIES = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class KafkaUnavailable(RuntimeError):
    """Kafka could not be fetched, started or reached."""


class KafkaPortInUse(KafkaUnavailable):
    """Something already listens on a port the broker needs."""


def default_cache_dir() -> Path:
    """Return the shared download cache: $FRONTDESK_CACHE or ~/.cache/frontdesk."""
    configured = os.environ.get("FRONTDESK_CACHE")
    return Path(configured or Path.home() / ".cache" / "frontdesk").expanduser()


def ensure_kafka_jars(cache_dir: Path | None = None) -> Path:
    """Fetch Kafka's runtime jars with Maven unless cached; return the directory holding them."""
    root = (cache_dir or default_cache_dir()) / f"kafka-{KAFKA_VERSION}"
    libs = root / "libs"
    if (libs / _MARKER).exists():
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".lock"):
        if not (libs / _MARKER).exists():
            _fetch_jars(root, libs)
    return libs


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Serialises concurrent fetches from several processes sharing one cache.
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_jars(root: Path, libs: Path) -> None:
    for leftover in root.glob("libs.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = root / f"libs.partial-{os.getpid()}"
    pom = root / "pom.xml"
    pom.write_text(POM_TEMPLATE.read_text().format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    log.info("fetching Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
    try:
        output = run_maven(
            ["-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={staging}"],
            what="Kafka", error=KafkaUnavailable,
        )  # fmt: skip
    except KafkaUnavailable:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not any(staging.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise KafkaUnavailable(f"mvn fetched no Kafka jar:\n{output[-_TAIL_BYTES:]}")
    (staging / _MARKER).write_text(f"kafka {KAFKA_VERSION}, log4j {LOG4J_VERSION}\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)


def _require_tool(name: str) -> str:
    return require_tool(name, "Kafka", KafkaUnavailable)


def _tail_file(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"


def _mebibytes(size: str) -> int:
    units = {"k": 1 / 1024, "m": 1, "g": 1024}
    suffix = size[-1].lower()
    return int(int(size[:-1]) * units[suffix]) if suffix in units else int(size) // 2**20


async def port_open(port: int, host: str = HOST) -> bool:
    """Tell whether something accepts TCP connections on host:port."""
    try:
        async with asyncio.timeout(1):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def broker_answers(bootstrap: str, request_timeout: float = 5.0) -> bool:
    """Tell whether a Kafka broker at bootstrap answers a metadata request listing a broker."""
    host, _, port = bootstrap.rpartition(":")
    if not await port_open(int(port), host):
        return False
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="frontdesk-devstack",
        request_timeout_ms=int(request_timeout * 1000),
    )
    try:
        async with asyncio.timeout(request_timeout):
            await admin.start()
            cluster = await admin.describe_cluster()
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    # A fenced (not yet registered) broker is left out of the metadata answer.
    return bool(cluster.get("brokers"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    with contextlib.suppress(OSError):  # Linux: an exited, unreaped process counts as gone
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        # The JVM's main thread turns Z while its other threads still finish the shutdown.
        return state != "Z" or len(os.listdir(proc / "task")) > 1
    return True


def _is_broker_of(pid: int, properties: Path) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:  # without /proc (macOS) a live pid has to do
        return not Path("/proc/self").exists() and _pid_alive(pid)
    return b"kafka.Kafka" in args and str(properties).encode() in args


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


async def _wait_gone(alive: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


class LocalKafka:
    """One local Kafka node (KRaft broker+controller) whose config, data and log live in home."""

    def __init__(
        self,
        home: Path,
        *,
        port: int = 9092,
        controller_port: int = 9093,
        cache_dir: Path | None = None,
        heap: str = "512m",
    ) -> None:
        self.home = Path(home).expanduser().absolute()
        self.port = port
        self.controller_port = controller_port
        self.cache_dir = cache_dir
        self.heap = heap
        self.data_dir = self.home / "data"
        self.log_path = self.home / "kafka.log"
        self.pid_path = self.home / "kafka.pid"
        self.properties_path = self.home / "server.properties"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Return the address clients bootstrap from."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Return the pid of the broker running from this home, whoever started it."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return self._pidfile_pid()

    @property
    def is_running(self) -> bool:
        """Tell whether a broker started from this home is alive."""
        return self.pid is not None

    # The own timeout (not a caller's asyncio.timeout) lets start() report the log tail.
    async def start(self, timeout: float = 90, *, reuse: bool = False) -> float:  # noqa: ASYNC109
        """Start the broker and wait until it answers; return the seconds taken.

        timeout bounds the wait for an answer once java runs (a first jar fetch comes on top).
        With reuse=True a broker already answering on the port is used as it is; stop() then
        stops it only if it was started from this home.
        """
        started = time.monotonic()
        if await self._already_running(reuse):
            return time.monotonic() - started
        libs = await asyncio.to_thread(ensure_kafka_jars, self.cache_dir)
        java = _require_tool("java")
        self._write_config()
        await self._format_storage(java, libs)
        self._spawn(java, libs)
        try:
            await self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        elapsed = time.monotonic() - started
        log.info("Kafka ready on %s after %.1f s", self.bootstrap_servers, elapsed)
        return elapsed

    # timeout is when SIGTERM turns into SIGKILL, not a limit on the call.
    async def stop(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Stop the broker of this home (also one an earlier process started): TERM, then KILL."""
        pid = self.pid
        if pid is None:
            self._forget()
            return
        alive = self._alive_check(pid)
        _signal(pid, signal.SIGTERM)
        if not await _wait_gone(alive, timeout):
            log.warning("Kafka pid %d ignored SIGTERM for %s s; killing it", pid, timeout)
            _signal(pid, signal.SIGKILL)
            await _wait_gone(alive, 10)
        self._forget()

    def kill(self) -> None:
        """Kill the broker at once with SIGKILL, as a crash would."""
        pid = self.pid
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            if self._proc is not None and self._proc.pid == pid:
                self._proc.wait(timeout=10)
            else:
                _wait_gone_sync(lambda: _pid_alive(pid), 10)
        self._forget()

    @classmethod
    async def stop_pidfile(cls, home: Path, timeout: float = 30) -> bool:  # noqa: ASYNC109
        """Stop a broker an earlier process started from home; tell whether one was running."""
        kafka = cls(home)
        was_running = kafka.is_running
        await kafka.stop(timeout)
        return was_running

    async def _already_running(self, reuse: bool) -> bool:
        if reuse and await broker_answers(self.bootstrap_servers):
            log.info("reusing the Kafka broker answering on %s", self.bootstrap_servers)
            return True
        pid = self.pid
        if pid is not None:
            raise KafkaUnavailable(
                f"a broker from {self.home} already runs as pid {pid}; stop it or pass reuse=True"
            )
        for port in (self.port, self.controller_port):
            if await port_open(port):
                hint = " (pass reuse=True to use a broker there)" if port == self.port else ""
                raise KafkaPortInUse(f"{HOST}:{port} is already in use{hint}")
        return False

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text(self._server_properties())
        (self.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "6",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # aiokafka does not retry the error KIP-890 verification returns (aiokafka #1004).
            "transaction.partition.verification.enable": "false",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java_command(self, java: str, libs: Path, main: str) -> list[str]:
        initial = f"{min(256, _mebibytes(self.heap))}m"
        return [
            java,
            f"-Xms{initial}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            # C1 only: a third less start-up time on two cores; a dev broker needs no C2 peak.
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main,
        ]

    async def _format_storage(self, java: str, libs: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return  # already formatted: keep the data of earlier runs
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        command = self._java_command(java, libs, "kafka.tools.StorageTool")
        command += ["format", f"--cluster-id={cluster_id}", "-c", str(self.properties_path)]
        result = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-_TAIL_BYTES:]
            raise KafkaUnavailable(f"formatting Kafka storage failed:\n{output}")

    def _spawn(self, java: str, libs: Path) -> None:
        command = [*self._java_command(java, libs, "kafka.Kafka"), str(self.properties_path)]
        with self.log_path.open("ab") as out:
            out.write(f"\n=== starting Kafka {KAFKA_VERSION} at {time.ctime()} ===\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")

    async def _wait_ready(self, seconds: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + seconds
        while not await broker_answers(self.bootstrap_servers):
            code = self._proc.poll()
            if code is not None:
                raise KafkaUnavailable(
                    f"Kafka exited with code {code} while starting:\n{self._tail()}"
                )
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"Kafka did not answer within {seconds} s:\n{self._tail()}")
            await asyncio.sleep(0.25)

    def _tail(self) -> str:
        return f"--- tail of {self.log_path} ---\n{_tail_file(self.log_path)}"

    def _pidfile_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_broker_of(pid, self.properties_path) else None

    def _alive_check(self, pid: int) -> Callable[[], bool]:
        proc = self._proc
        if proc is not None and proc.pid == pid:
            return lambda: proc.poll() is None
        return lambda: _pid_alive(pid)

    def _forget(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None
        if self._proc is None:
            self.pid_path.unlink(missing_ok=True)


def _wait_gone_sync(alive: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)


def free_port() -> int:
    """A port nothing listens on now, on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def broker_for(home: Path) -> AsyncIterator[str]:
    """The broker KAFKA_BOOTSTRAP_SERVERS names, or a local one in `home` for the duration."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if given:
        yield given
        return
    broker = LocalKafka(home / "kafka", port=free_port(), controller_port=free_port(),
                        cache_dir=default_cache_dir())  # fmt: skip
    print(f"broker started in {await broker.start():.1f} s", flush=True)
    try:
        yield broker.bootstrap_servers
    finally:
        await broker.stop()
