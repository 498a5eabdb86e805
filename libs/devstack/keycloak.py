"""A real Keycloak (the Quarkus server distribution from Maven Central) for the stack and tests.

The distribution is fetched once with Maven and unpacked into the shared download cache; every
server runs from that one folder in development mode on an in-memory database, so nothing of
one server's state is written there (its transaction log goes to the server's own home). The
realms come from JSON files in deploy/keycloak/ through the admin REST API once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from libs.devstack.kafka import HOST, _file_lock, _tail_file, default_cache_dir, port_open
from libs.devstack.maven import run_maven

KEYCLOAK_VERSION = "26.4.5"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
REALM_FILE = Path(__file__).resolve().parents[2] / "deploy" / "keycloak" / "frontdesk-realm.json"
REALM = "frontdesk"
CLIENT = "frontdesk-console"
TENANT_CLAIM = "frontdesk_client_id"
ADMIN_USER = "admin"
_MARKER = ".complete"


class KeycloakUnavailable(RuntimeError):
    """Keycloak could not be fetched, started or reached."""


def ensure_keycloak(cache_dir: Path | None = None) -> Path:
    """Fetch and unpack Keycloak unless cached; return the distribution's folder."""
    root = (cache_dir or default_cache_dir()) / f"keycloak-{KEYCLOAK_VERSION}"
    if (root / _MARKER).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(root.parent / f".keycloak-{KEYCLOAK_VERSION}.lock"):
        if not (root / _MARKER).exists():
            _fetch(root)
    return root


def _fetch(root: Path) -> None:
    staging = root.parent / f"keycloak.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    arguments = ["dependency:copy", f"-Dartifact={ARTIFACT}"]
    arguments += [f"-DoutputDirectory={staging}", "-Dmdep.stripVersion=true"]
    try:
        run_maven(arguments, what="Keycloak", error=KeycloakUnavailable)
    except KeycloakUnavailable:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    archive = staging / "keycloak-quarkus-dist.zip"
    if not archive.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise KeycloakUnavailable(f"mvn fetched no {ARTIFACT}")
    _unpack(archive, staging / "dist")
    shutil.rmtree(root, ignore_errors=True)
    (staging / "dist" / f"keycloak-{KEYCLOAK_VERSION}").rename(root)
    shutil.rmtree(staging, ignore_errors=True)
    (root / _MARKER).write_text(f"keycloak {KEYCLOAK_VERSION}\n")


def _unpack(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            path = Path(zipped.extract(member, into))
            mode = (member.external_attr >> 16) & 0o777  # zipfile drops the scripts' x bits
            if mode:
                path.chmod(mode)


@contextlib.asynccontextmanager
async def _start_lock(dist: Path) -> AsyncIterator[None]:
    # A first start writes the optimised build into the shared folder: one start at a time.
    with (dist / ".start.lock").open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LocalKeycloak:
    """One Keycloak in development mode on 127.0.0.1, with the realms of `realm_files`."""

    def __init__(
        self,
        home: Path,
        *,
        port: int = 8080,
        cache_dir: Path | None = None,
        realm_files: tuple[Path, ...] = (REALM_FILE,),
    ) -> None:
        self.home = Path(home).expanduser().absolute()
        self.port = port
        self.cache_dir = cache_dir
        self.realm_files = realm_files
        self.admin_password = secrets.token_urlsafe(16)
        self.log_path = self.home / "keycloak.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base address."""
        return f"http://{HOST}:{self.port}"

    def issuer(self, realm: str = REALM) -> str:
        """The issuer (`iss`) of a realm's tokens."""
        return f"{self.url}/realms/{realm}"

    # The own timeout lets start() report the log tail; a first download comes on top.
    async def start(self, timeout: float = 240) -> float:  # noqa: ASYNC109
        """Start the server, wait until it answers, create the realms; return the seconds taken."""
        started = time.monotonic()
        if await port_open(self.port):
            raise KeycloakUnavailable(f"{HOST}:{self.port} is already in use")
        dist = await asyncio.to_thread(ensure_keycloak, self.cache_dir)
        async with _start_lock(dist):
            self._spawn(dist)
            try:
                await self._wait_ready(timeout)
            except BaseException:
                await self.stop()
                raise
        async with self.admin() as admin:
            for realm_file in self.realm_files:
                await admin.create_realm(json.loads(realm_file.read_text()))
        return time.monotonic() - started

    def _spawn(self, dist: Path) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        command = [str(dist / "bin" / "kc.sh"), "start-dev", "--db=dev-mem"]
        command += [f"--http-host={HOST}", f"--http-port={self.port}"]
        command += [f"-Dquarkus.transaction-manager.object-store.directory={self.home / 'tx'}"]
        env = {
            **os.environ,
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                env=env,
                start_new_session=True,  # kc.sh runs java as a child: stop the whole group
            )

    async def _wait_ready(self, seconds: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=2) as http:
            while not await _answers(
                http, f"{self.issuer('master')}/.well-known/openid-configuration"
            ):
                code = self._proc.poll()
                if code is not None:
                    raise KeycloakUnavailable(f"Keycloak exited with {code}:\n{self._tail()}")
                if time.monotonic() > deadline:
                    raise KeycloakUnavailable(f"no answer within {seconds} s:\n{self._tail()}")
                await asyncio.sleep(0.3)

    def _tail(self) -> str:
        return f"--- tail of {self.log_path} ---\n{_tail_file(self.log_path)}"

    async def stop(self, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Stop the server (TERM to its process group, then KILL)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)

    @contextlib.asynccontextmanager
    async def admin(self) -> AsyncIterator[KeycloakAdmin]:
        """A client of the admin REST API, logged in as the bootstrap admin."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            token = await password_grant(
                http, "master", "admin-cli", ADMIN_USER, self.admin_password
            )
            http.headers["Authorization"] = f"Bearer {token}"
            yield KeycloakAdmin(http)


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def password_grant(
    http: httpx.AsyncClient, realm: str, client: str, username: str, password: str
) -> str:
    """An access token for a user through the password grant (development realms only)."""
    response = await http.post(
        f"/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": client, "username": username}
        | {"password": password, "scope": "openid"},
    )
    if response.status_code != 200:
        raise KeycloakUnavailable(
            f"no token for {username}: {response.status_code} {response.text}"
        )
    token: str = response.json()["access_token"]
    return token


class KeycloakAdmin:
    """The few admin REST calls the stack and the tests make."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"/admin/realms{path}", json=body)
        if response.status_code >= 400:
            raise KeycloakUnavailable(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def create_realm(self, representation: Mapping[str, Any]) -> bool:
        """Create a realm from its JSON unless one of that name exists; True when created."""
        exists = await self.http.get(f"/admin/realms/{representation['realm']}")
        if exists.status_code == 200:
            return False
        await self._call("POST", "", representation)
        return True

    async def user(self, realm: str, username: str) -> dict[str, Any]:
        """A user's full representation (attributes included)."""
        query = f"/{realm}/users?exact=true&briefRepresentation=false&username={username}"
        found: list[dict[str, Any]] = await self._call("GET", query)
        if not found:
            raise KeycloakUnavailable(f"no user {username} in realm {realm}")
        return found[0]

    async def set_attribute(self, realm: str, username: str, name: str, value: str) -> None:
        """Set one attribute of a user (such as the tenant a client user belongs to)."""
        user = await self.user(realm, username)
        user["attributes"] = {**user.get("attributes", {}), name: [value]}
        await self._call("PUT", f"/{realm}/users/{user['id']}", user)

    async def create_user(
        self,
        realm: str,
        username: str,
        password: str,
        roles: Sequence[str],
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Add a user with a password, realm roles and attributes; the user's id."""
        representation = {
            "username": username,
            "enabled": True,
            "email": f"{username}@frontdesk.example",
            "emailVerified": True,
            "firstName": username,
            "lastName": "Frontdesk",
            "attributes": {name: [value] for name, value in (attributes or {}).items()},
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
        await self._call("POST", f"/{realm}/users", representation)
        user_id: str = (await self.user(realm, username))["id"]
        granted = [await self._call("GET", f"/{realm}/roles/{role}") for role in roles]
        await self._call("POST", f"/{realm}/users/{user_id}/role-mappings/realm", granted)
        return user_id

    async def create_client(self, realm: str, representation: Mapping[str, Any]) -> None:
        """Add a client (an application allowed to ask for tokens) to a realm."""
        await self._call("POST", f"/{realm}/clients", representation)

    async def allow_origin(self, realm: str, client_id: str, origin: str) -> None:
        """Let pages served from `origin` sign in through the client: a redirect URI under it
        and the origin among the client's web origins (CORS at the token endpoint)."""
        found = await self._call("GET", f"/{realm}/clients?clientId={client_id}")
        if not found:
            raise KeycloakUnavailable(f"no client {client_id} in realm {realm}")
        client = found[0]
        redirects = set(client.get("redirectUris", [])) | {f"{origin}/*"}
        origins = set(client.get("webOrigins", [])) | {origin}
        client |= {"redirectUris": sorted(redirects), "webOrigins": sorted(origins)}
        await self._call("PUT", f"/{realm}/clients/{client['id']}", client)

    async def add_signing_key(self, realm: str, name: str, priority: int = 1000) -> None:
        """Add a new active RS256 key that outranks the realm's others: a key rotation."""
        realm_id = (await self._call("GET", f"/{realm}"))["id"]
        component = {
            "name": name,
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": {"priority": [str(priority)], "active": ["true"], "algorithm": ["RS256"]},
        }
        await self._call("POST", f"/{realm}/components", component)
