"""A real Dovecot IMAP server from Debian's packages, unpacked into the shared cache, unprivileged.

`dovecot-core` and `dovecot-imapd` are fetched with `apt-get download` and unpacked with
`dpkg-deb -x` (plus any library package they need that the machine lacks); nothing is installed
or started system-wide. Debian builds Dovecot for /usr, so the private copy is told where it is:
`libexec_dir` and the plugin dirs in the config, LD_LIBRARY_PATH for the libraries (passed on to
the child processes with `import_environment`), and `doveconf -e` runs the master with its
settings already read, since the master would otherwise exec /usr/bin/doveconf.
One path cannot be set: imap-login always loads the TLS module from the compiled-in
/usr/lib/dovecot/modules, so the private libdovecot.so is patched to look in `modules` relative
to the working directory (the master's base_dir, where a link to the unpacked modules is made).

As a normal user every Dovecot process runs as that user. As root (CI containers) the login,
internal and mail processes run as `nobody`, because Dovecot refuses root for them; the
sockets and the Maildir are then kept in a folder of their own that `nobody` can reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.kafka import HOST, _file_lock, default_cache_dir

PACKAGES = ("dovecot-core", "dovecot-imapd")
_MARKER = ".complete"
_MODULE_DIR = b"/usr/lib/dovecot/modules\0"
_RELATIVE_MODULE_DIR = b"modules".ljust(len(_MODULE_DIR), b"\0")
_NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.M)
_TAIL_BYTES = 4000

CONFIG = """\
base_dir = {run}
state_dir = {state}
libexec_dir = {libexec}
mail_plugin_dir = {modules}
login_plugin_dir = {modules}/login
import_environment = TZ LD_LIBRARY_PATH
log_path = {log}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {internal_user}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
protocols = imap
listen = {host}
ssl = no
# plaintext logins are for the tests on 127.0.0.1 only
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={mail}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
    ssl = no
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotUnavailable(RuntimeError):
    """Dovecot could not be fetched, started or reached."""


@dataclass(frozen=True)
class DovecotInstall:
    """An unpacked Dovecot: where its binaries are and what they need to find their libraries."""

    root: Path

    @property
    def dovecot(self) -> Path:
        """The master process."""
        return self.root / "usr/sbin/dovecot"

    @property
    def doveconf(self) -> Path:
        """The config reader that starts the master with its settings."""
        return self.root / "usr/bin/doveconf"

    @property
    def libexec(self) -> Path:
        """The service binaries (imap, imap-login, auth ...) and Dovecot's own libraries."""
        return self.root / "usr/lib/dovecot"

    @property
    def modules(self) -> Path:
        """The plugin folder."""
        return self.libexec / "modules"

    def env(self) -> dict[str, str]:
        """The environment the binaries run in: the unpacked libraries come first."""
        folders = [self.libexec, self.modules, self.modules / "old-stats"]
        folders += [Path(p) for p in sorted(glob.glob(str(self.root / "usr/lib/*-linux-gnu")))]
        folders += [Path(p) for p in sorted(glob.glob(str(self.root / "lib/*-linux-gnu")))]
        return {**os.environ, "LD_LIBRARY_PATH": ":".join(str(f) for f in folders)}


def ensure_dovecot(cache_dir: Path | None = None) -> DovecotInstall:
    """Unpack Debian's Dovecot into the cache unless it is there; return where it is."""
    cache = cache_dir or default_cache_dir()
    version = _candidate_version()
    # no epoch ("1:") in the folder name: it goes into LD_LIBRARY_PATH, where ':' separates
    install = DovecotInstall(cache / f"dovecot-{version.partition(':')[2] or version}")
    if (install.root / _MARKER).exists():
        return install
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / f".{install.root.name}.lock"):
        if not (install.root / _MARKER).exists():
            _unpack(install, version)
    return install


def _candidate_version() -> str:
    for tool in ("apt-cache", "apt-get", "dpkg-deb", "dpkg-query", "ldd"):
        if shutil.which(tool) is None:
            raise DovecotUnavailable(f"`{tool}` is not on PATH; Dovecot comes from Debian")
    version = _policy_version()
    if version is None and os.geteuid() == 0:
        _run(["apt-get", "update", "-qq"])  # a fresh machine may not have package lists yet
        version = _policy_version()
    if version is None:
        raise DovecotUnavailable("apt knows no dovecot-core package (run `apt-get update`?)")
    return version


def _policy_version() -> str | None:
    output = _run(["apt-cache", "policy", PACKAGES[0]])
    found = re.search(r"Candidate:\s*(\S+)", output)
    return None if found is None or found.group(1) == "(none)" else found.group(1)


def _unpack(install: DovecotInstall, version: str) -> None:
    staging = install.root.with_name(install.root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    _download_and_extract([f"{name}={version}" for name in PACKAGES], staging)
    staged = DovecotInstall(staging)
    if _missing_libraries(staged):
        _download_and_extract(_uninstalled_libraries(PACKAGES[0]), staging)
    if missing := _missing_libraries(staged):
        raise DovecotUnavailable(f"Dovecot still lacks {', '.join(sorted(missing))}")
    _patch_module_dir(staged.libexec / "libdovecot.so.0")
    banner = _run([str(staged.dovecot), "--version"], env=staged.env()).strip()
    shutil.rmtree(install.root, ignore_errors=True)
    staging.rename(install.root)
    (install.root / _MARKER).write_text(banner + "\n")


def _download_and_extract(packages: list[str], into: Path) -> None:
    if not packages:
        return
    with tempfile.TemporaryDirectory() as download:
        _run(["apt-get", "download", *packages], cwd=Path(download))
        for deb in sorted(Path(download).glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(into)])


def _uninstalled_libraries(package: str) -> list[str]:
    """The library packages `package` depends on that this machine does not have."""
    output = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", package])
    names = re.findall(r"^\s*\|?Depends:\s*<?([a-z0-9][a-z0-9.+-]*)>?", output, re.M)
    wanted = [n for n in dict.fromkeys(names) if n.startswith("lib") and n != "libc6"]
    return [name for name in wanted if not _installed(name)]


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode == 0 and result.stdout.startswith("ii")


def _missing_libraries(install: DovecotInstall) -> set[str]:
    """Shared libraries the unpacked binaries ask for and cannot find."""
    binaries = [install.dovecot, install.doveconf, *sorted(install.libexec.iterdir())]
    missing: set[str] = set()
    for binary in binaries:
        if binary.is_file() and not binary.is_symlink() and _is_elf(binary):
            result = subprocess.run(
                ["ldd", str(binary)], env=install.env(),
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            missing.update(_NOT_FOUND.findall(result.stdout))
    return missing


def _is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def _patch_module_dir(library: Path) -> None:
    """Point the compiled-in module folder (the TLS module's) at `./modules`."""
    real = library.resolve()
    data = real.read_bytes()
    if data.count(_MODULE_DIR) != 1:
        raise DovecotUnavailable(f"{real.name}: the module folder is not where it was expected")
    real.write_bytes(data.replace(_MODULE_DIR, _RELATIVE_MODULE_DIR))


def _run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        result = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DovecotUnavailable(f"{command[0]} did not finish within 300 s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-_TAIL_BYTES:]
        raise DovecotUnavailable(f"{' '.join(command)} failed ({result.returncode}):\n{output}")
    return result.stdout + result.stderr


@dataclass(frozen=True)
class _Identity:
    """Who the Dovecot processes run as, and who owns the Maildir."""

    user: str
    group: str
    uid: int
    gid: int

    @classmethod
    def current(cls) -> _Identity:
        """This user, or `nobody` when this is root (Dovecot refuses root for mail and logins)."""
        entry = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.getuid())
        return cls(entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid)


class LocalDovecot:
    """A Dovecot IMAP server on 127.0.0.1 with one user, its config and log under `home`."""

    def __init__(
        self, install: DovecotInstall, home: Path, port: int, user: str, password: str
    ) -> None:
        self._install = install
        self.home = home
        self.port = port
        self.user = user
        self._password = password
        self._identity = _Identity.current()
        self._runtime: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Dovecot's own log."""
        return self.home / "dovecot.log"

    @property
    def maildir(self) -> Path:
        """The user's Maildir (INBOX)."""
        return self._prepare_runtime() / "mail" / self.user / "Maildir"

    async def start(self, timeout: float = 20) -> None:  # noqa: ASYNC109
        """Write the config, start the master and wait until it greets on the IMAP port."""
        config = self._write_config()
        command = [str(self._install.doveconf), "-c", str(config), "-m", "master", "-e"]
        command += [str(self._install.dovecot), "-c", str(config), "-F"]
        with (self.home / "dovecot.out").open("ab") as out:
            # Popen returns at once (the wait below is async): nothing blocks the loop here
            self._process = subprocess.Popen(  # noqa: ASYNC220
                command, env=self._install.env(), stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DovecotUnavailable(f"dovecot exited:\n{self.log_tail()}")
            if await _greets(self.port):
                return
            await asyncio.sleep(0.05)
        self.stop()
        raise DovecotUnavailable(f"dovecot did not greet within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the master and with it every session (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None:
            return
        sessions = _children(self._process.pid)
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        # an imap process outlives its master while its client stays connected: end it too
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def discard(self) -> None:
        """Stop and delete the Maildir and sockets (the config and log stay in `home`)."""
        self.stop()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None

    def create_folder(self, name: str) -> None:
        """Make a mail folder next to the INBOX (Maildir++: `.name`)."""
        folder = self._folder(name)
        for path in (folder, folder / "cur", folder / "new", folder / "tmp"):
            path.mkdir()
            self._own(path)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> str:
        """Drop a mail into a folder as a delivery agent does (tmp/, then new/); its file name."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.frontdesk"
        staged = self._folder(folder) / "tmp" / name
        staged.write_bytes(raw)
        self._own(staged)
        staged.rename(self._folder(folder) / "new" / name)
        return name

    def _folder(self, name: str) -> Path:
        return self.maildir if name == "INBOX" else self.maildir / f".{name}"

    def log_tail(self) -> str:
        """The end of the server's log and output, for failure messages."""
        parts = [self.log_path, self.home / "dovecot.out"]
        text = "".join(p.read_text(errors="replace") for p in parts if p.exists())
        return text[-_TAIL_BYTES:]

    def _prepare_runtime(self) -> Path:
        # Kept out of `home`: unix socket paths are short, and `nobody` must reach it as root.
        if self._runtime is None:
            self._runtime = Path(tempfile.mkdtemp(prefix="frontdesk-dovecot-"))
            self._runtime.chmod(0o755)
            for folder in ("run", "state", "mail"):
                (self._runtime / folder).mkdir()
            maildir = self._runtime / "mail" / self.user / "Maildir"
            for sub in ("cur", "new", "tmp"):
                (maildir / sub).mkdir(parents=True)
            for path in (maildir.parent, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
                self._own(path)
        return self._runtime

    def _write_config(self) -> Path:
        runtime = self._prepare_runtime()
        self.home.mkdir(parents=True, exist_ok=True)
        passwd = runtime / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self._password}::::::\n")
        passwd.chmod(0o644)  # read by the auth process, which runs as the internal user
        link = runtime / "run" / "modules"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(self._install.modules)
        config = self.home / "dovecot.conf"
        config.write_text(self._config_text(runtime, passwd))
        return config

    def _config_text(self, runtime: Path, passwd: Path) -> str:
        ident = self._identity
        return CONFIG.format(
            run=runtime / "run", state=runtime / "state", mail=runtime / "mail",
            libexec=self._install.libexec, modules=self._install.modules, log=self.log_path,
            internal_user=ident.user, internal_group=ident.group,
            mail_uid=ident.uid, mail_gid=ident.gid, host=HOST, port=self.port, passwd=passwd,
        )  # fmt: skip

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self._identity.uid, self._identity.gid)


def _children(pid: int) -> list[int]:
    """The processes the master started (Linux /proc), read before it is stopped."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


async def _greets(port: int) -> bool:
    """Whether an IMAP server answers on the port with its `* OK` greeting."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 1)
    except (OSError, TimeoutError):
        return False
    try:
        line = await asyncio.wait_for(reader.readline(), 2)
    except (OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return line.startswith(b"* OK")
