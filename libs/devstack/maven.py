"""Java artifacts fetched with Maven from Maven Central: the local servers' jars and zips."""

from __future__ import annotations

import re
import shutil
import subprocess

TAIL_CHARS = 4000
MAVEN_SECONDS = 900


def require_tool(name: str, needed_by: str, error: type[Exception]) -> str:
    """The path of a tool on PATH, or `error` saying who needs it."""
    found = shutil.which(name)
    if found is None:
        raise error(f"`{name}` is not on PATH; {needed_by} needs a JDK 17+ and Maven")
    return found


def run_maven(arguments: list[str], *, what: str, error: type[Exception]) -> str:
    """Run `mvn -q -B arguments` (after checking for a JDK); its output, or `error`."""
    mvn = require_tool("mvn", what, error)
    require_tool("java", what, error)
    command = [mvn, "-q", "-B", *arguments]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=MAVEN_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"mvn did not finish fetching {what} within {MAVEN_SECONDS} s") from exc
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # Maven colours anyway
    if result.returncode != 0:
        raise error(f"mvn failed (exit {result.returncode}):\n{output[-TAIL_CHARS:]}")
    return output
