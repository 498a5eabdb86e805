"""The `docker compose` CLI plugin, built from its Go module and kept in the shared cache.

`docker compose config` resolves and validates compose files without a Docker engine, but
needs the compose plugin. The plugin is built once from the pinned module version with the
machine's Go toolchain (`go install` refuses it because its go.mod has exclude directives,
so it is built inside the downloaded module instead) and placed in a Docker config folder of
its own: `DOCKER_CONFIG=<that folder> docker compose ...` finds it, and ~/.docker stays as it
is.   python -m libs.devstack.compose   builds it if missing and prints that folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.kafka import _file_lock, default_cache_dir

log = logging.getLogger(__name__)

COMPOSE_VERSION = "2.40.3"
MODULE = "github.com/docker/compose/v2"
_MARKER = ".complete"
_TAIL_BYTES = 4000
_BUILD_TIMEOUT = 1800
_LDFLAGS = f"-s -w -X {MODULE}/internal.Version=v{COMPOSE_VERSION}"


class ComposeUnavailable(RuntimeError):
    """The compose plugin could not be built or run."""


@dataclass(frozen=True)
class ComposePlugin:
    """A built compose plugin and the Docker config folder whose cli-plugins/ holds it."""

    docker_config: Path

    @property
    def binary(self) -> Path:
        """The plugin executable (it also runs on its own, as `docker-compose`)."""
        return self.docker_config / "cli-plugins" / "docker-compose"

    def command(self, args: Sequence[str]) -> list[str]:
        """`docker compose <args>`; the plugin run on its own when there is no docker CLI."""
        docker = shutil.which("docker")
        return [docker, "compose", *args] if docker else [str(self.binary), *args]

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """base (default: this process's environment) with the variable that finds the plugin."""
        return {**(os.environ if base is None else base), "DOCKER_CONFIG": str(self.docker_config)}

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> CompletedCompose:
        """Run `docker compose <args>` in cwd under env (default: inherited); return its output."""
        result = subprocess.run(
            self.command(args),
            cwd=cwd,
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CompletedCompose(result.returncode, result.stdout, result.stderr)


@dataclass(frozen=True)
class CompletedCompose:
    """What one `docker compose` run printed."""

    returncode: int
    stdout: str
    stderr: str


def ensure_compose_plugin(cache_dir: Path | None = None, *, nice: bool = False) -> ComposePlugin:
    """Build the pinned compose plugin unless cached; nice=True builds at low CPU priority."""
    root = (cache_dir or default_cache_dir()) / f"docker-compose-{COMPOSE_VERSION}"
    plugin = ComposePlugin(root)
    if (root / _MARKER).exists():
        return plugin
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".lock"):
        if not (root / _MARKER).exists():
            _build(plugin, nice=nice)
    return plugin


def _build(plugin: ComposePlugin, *, nice: bool) -> None:
    go = shutil.which("go")
    if go is None:
        raise ComposeUnavailable(
            f"`go` is not on PATH; the docker compose plugin (v{COMPOSE_VERSION}) is built "
            "from its Go module and needs Go 1.24 or newer (https://go.dev/dl/)"
        )
    prefix = ["nice", "-n", "10"] if nice and shutil.which("nice") else []
    module_dir = _download_module(go, cwd=plugin.docker_config)
    staging = plugin.binary.with_name(f"docker-compose.partial-{os.getpid()}")
    staging.parent.mkdir(parents=True, exist_ok=True)
    log.info("building docker compose v%s from %s", COMPOSE_VERSION, module_dir)
    build = [go, "build", "-trimpath", f"-ldflags={_LDFLAGS}", "-o", str(staging), "./cmd"]
    _run([*prefix, *build], cwd=module_dir)
    version = _run([str(staging), "version", "--short"]).strip()
    if version.lstrip("v") != COMPOSE_VERSION:
        raise ComposeUnavailable(f"the built plugin reports version {version!r}")
    staging.replace(plugin.binary)
    (plugin.docker_config / _MARKER).write_text(f"docker compose {COMPOSE_VERSION}\n")


def _download_module(go: str, cwd: Path) -> Path:
    """Fetch the module's source through the Go module proxy; return its folder."""
    output = _run([go, "mod", "download", "-json", f"{MODULE}@v{COMPOSE_VERSION}"], cwd=cwd)
    try:
        return Path(json.loads(output)["Dir"])
    except (ValueError, KeyError) as exc:
        raise ComposeUnavailable(f"`go mod download` gave no folder:\n{output}") from exc


def _run(command: list[str], cwd: Path | None = None) -> str:
    # The module's own go.mod decides (not a vendor folder or the caller's GOFLAGS); CGO off
    # gives the static binary Docker ships and needs no C compiler.
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GO111MODULE": "on"}
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ComposeUnavailable(f"{command[0]} did not finish within {_BUILD_TIMEOUT} s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-_TAIL_BYTES:]
        raise ComposeUnavailable(
            f"{' '.join(command)} failed (exit {result.returncode}):\n{output}"
        )
    return result.stdout


def main() -> None:
    """Build the plugin if needed and print the Docker config folder that holds it."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(ensure_compose_plugin().docker_config)


if __name__ == "__main__":
    main()
