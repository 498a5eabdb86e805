"""The Dockerfile installs the services as the README does, and its image can start each one.

Without a Docker engine the install is replayed: the files its COPY lines name are copied
into an empty folder (minus what .dockerignore leaves out) and its `uv sync` steps run there,
sharing uv's cache. The result must import every service's app factory through the image's
entry point and hold no development package.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from libs.events.catalogue import ALL_SERVICES
from tests.support.processes import ROOT

DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|_KEY\b")
# What ties a process to this checkout's environment rather than to the folder it runs in.
CHECKOUT_VARIABLES = {
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PROJECT",
    "PYTHONPATH",
    "PYTHONHOME",
}


@dataclass(frozen=True)
class Step:
    """One Dockerfile instruction, its continuation lines joined."""

    instruction: str
    arguments: str


def steps() -> list[Step]:
    """The instructions of the Dockerfile's final stage in order (comments left out); the
    stage before it only installs the console's browser library."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, arguments = line.strip().partition(" ")
            if instruction.upper() == "FROM":
                found = []
            found.append(Step(instruction.upper(), arguments.strip()))
    return found


def uv_syncs() -> list[list[str]]:
    """The `uv sync` commands of the RUN steps, as argument lists."""
    commands = []
    for step in steps():
        if step.instruction == "RUN":
            for part in re.sub(r"--mount=\S+", "", step.arguments).split("&&"):
                words = shlex.split(part)
                if words[:2] == ["uv", "sync"]:
                    commands.append(words)
    return commands


def pinned_uv(text: str) -> str:
    """The uv version a script installs with pip."""
    match = re.search(r"\"uv==([0-9][0-9.]*)\"", text)
    assert match, "no pinned uv install found"
    return match.group(1)


def test_the_image_installs_the_uv_version_run_pins() -> None:
    """Dockerfile and ./run install the same uv."""
    assert pinned_uv(DOCKERFILE.read_text()) == pinned_uv((ROOT / "run").read_text())


def test_the_image_installs_the_locked_dependencies_without_the_dev_group() -> None:
    """Every install is `uv sync --frozen --no-dev`, the last one with the project itself."""
    commands = uv_syncs()
    assert commands, "no `uv sync` step"
    for command in commands:
        assert {"--frozen", "--no-dev"} <= set(command), command
    assert "--no-install-project" not in commands[-1]


def test_no_secret_is_set_in_the_image() -> None:
    """No ENV or ARG gives a database URL, password, token or secret a value."""
    for step in steps():
        if step.instruction in ("ENV", "ARG"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", step.arguments)
            assert not [name for name in names if SECRET_NAMES.search(name)], step


def test_the_image_runs_the_service_entry_point() -> None:
    """CMD starts `python -m libs.platform.serve services.<FRONTDESK_SERVICE>.app:create_app`."""
    module, target = entry_point()
    assert module == "libs.platform.serve"
    assert re.fullmatch(r"services\.\$\{FRONTDESK_SERVICE[^}]*\}\.app:create_app", target)
    (user,) = [s.arguments for s in steps() if s.instruction == "USER"]
    assert re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user), "a numeric, non-root user"


@pytest.mark.slow
def test_the_copied_files_and_uv_sync_make_an_environment_that_runs_every_service(
    tmp_path: Path,
) -> None:
    """Replay COPY and `uv sync`; import each app factory the way CMD does; no dev packages."""
    app = tmp_path / "app"
    app.mkdir()
    for step in steps():
        if step.instruction == "COPY":
            copy_into(app, step.arguments)
    for command in uv_syncs():
        run(command, app)
    python = str(app / ".venv" / "bin" / "python")
    module, target = entry_point()
    factories = [re.sub(r"\$\{FRONTDESK_SERVICE[^}]*\}", s, target) for s in ALL_SERVICES]
    code = f"import importlib; serve = importlib.import_module({module!r})\n"
    code += f"for factory in {factories!r}: serve.load_factory(factory)\n"
    code += "from services.console.app import VENDOR, create_app; create_app()\n"
    code += "assert all(path.exists() for path in VENDOR.values()), VENDOR"
    run([python, "-c", code], app)
    usage = run([python, "-m", module], app, check=False)
    assert usage.returncode == 1
    assert "usage:" in usage.stderr
    run([str(app / ".venv" / "bin" / "frontdesk"), "topics", "--help"], app)
    listing = run(["uv", "pip", "list", "--python", python], app).stdout
    assert not dev_only_packages() & package_names(listing), listing


def entry_point() -> tuple[str, str]:
    """The module CMD runs with `python -m` and the app factory it passes."""
    (cmd,) = [s.arguments for s in steps() if s.instruction == "CMD"]
    shell = " ".join(json.loads(cmd))
    match = re.search(r"\bpython -m (\S+) (\S+)", shell)
    assert match, f"CMD does not run a module with python -m: {cmd}"
    return match.group(1), match.group(2)


def copy_into(app: Path, arguments: str) -> None:
    """Do what `COPY <sources> <destination>` does, relative to WORKDIR app."""
    if arguments.startswith("--from=web "):  # the web stage's npm ci: the same lock file here
        _, source, destination = shlex.split(arguments)
        assert source == "/web/node_modules", arguments
        shutil.copytree(ROOT / "services/console/web/node_modules", app / destination)
        return
    *sources, destination = shlex.split(arguments)
    assert not [s for s in sources if s.startswith("--")], f"COPY with flags: {arguments}"
    target = app / destination
    for source in sources:
        path = ROOT / source
        into = target / path.name if destination.endswith("/") or len(sources) > 1 else target
        if path.is_dir():
            shutil.copytree(path, into, ignore=dockerignored)
        else:
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, into)


def dockerignored(folder: str, names: list[str]) -> set[str]:
    """The names in folder that .dockerignore keeps out of the build context."""
    patterns = [
        line.strip().removeprefix("**/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    relative = Path(folder).relative_to(ROOT)
    return {
        name
        for name in names
        if any(
            fnmatch.fnmatch(name, p) or fnmatch.fnmatch(str(relative / name), p) for p in patterns
        )
    }


def dev_only_packages() -> set[str]:
    """The development group's packages that no runtime dependency needs (per uv.lock).

    A package the tests name directly (PyYAML) may also be needed at runtime by another
    (caldav): then it belongs in the image.
    """
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    dev = {normalise(re.split(r"[<>=!~\[; ]", spec)[0]) for spec in groups["dev"]}
    return dev - runtime_closure()


def runtime_closure() -> set[str]:
    """Every package the project's runtime dependencies pull in, as uv.lock resolves them."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    needs = {
        normalise(package["name"]): [
            normalise(dep["name"])
            for dep in package.get("dependencies", [])
            if "sys_platform == 'never'" not in dep.get("marker", "")
        ]
        for package in lock["package"]
    }
    found: set[str] = set()
    todo = list(needs["frontdesk"])
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(needs.get(name, []))
    return found


def package_names(listing: str) -> set[str]:
    """The names in `uv pip list` output."""
    rows = listing.splitlines()[2:]  # a header and a rule come first
    return {normalise(row.split()[0]) for row in rows if row.strip()}


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def run(command: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command as the image build would: in cwd, outside any virtualenv or project."""
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARIABLES}
    # The Python this test runs on stands in for the image's python:3.11.
    env["UV_PYTHON"] = str(Path(sys.base_prefix) / "bin" / "python3")
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix)
    )
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert result.returncode == 0, f"{shlex.join(command)}:\n{result.stdout}{result.stderr}"
    return result
