"""The vegeta HTTP load generator, built with the machine's Go into the shared download cache.

vegeta sends requests at a constant rate whatever the server's latency (an open model: a slow
answer does not slow the next request down), which is what "p99 at 500 req/s" means. It is
built once from its module at a pinned version with `go install` (through the Go module proxy,
checked against Go's checksum database) into `<cache>/vegeta-<version>/bin`, about a minute.
    python -m libs.devstack.vegeta   prints the path of the binary, building it if needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from libs.devstack.kafka import _file_lock, default_cache_dir

VEGETA_MODULE = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.13.0"
_BUILD_SECONDS = 600


class VegetaUnavailable(RuntimeError):
    """vegeta is not built and cannot be (no Go, or the build failed)."""


def vegeta_binary(cache_dir: Path | None = None) -> Path:
    """Where the pinned vegeta is (or will be) in the cache."""
    root = (cache_dir or default_cache_dir()) / f"vegeta-{VEGETA_VERSION}"
    return root / "bin" / "vegeta"


def ensure_vegeta(cache_dir: Path | None = None) -> Path:
    """The pinned vegeta binary, built with `go install` unless the cache has it."""
    binary = vegeta_binary(cache_dir)
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(binary.parent.parent / ".lock"):  # several processes may share the cache
        if not binary.exists():
            _build(binary.parent)
    return binary


def _build(gobin: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise VegetaUnavailable("vegeta is built with Go, and no `go` is on PATH")
    env = {**os.environ, "GOBIN": str(gobin), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    try:
        subprocess.run(
            [go, "install", f"{VEGETA_MODULE}@{VEGETA_VERSION}"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=_BUILD_SECONDS,
        )
    except subprocess.CalledProcessError as exc:
        raise VegetaUnavailable(f"building vegeta failed:\n{exc.stderr[-2000:]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise VegetaUnavailable(f"building vegeta took over {_BUILD_SECONDS} s") from exc


if __name__ == "__main__":
    try:
        print(ensure_vegeta())
    except VegetaUnavailable as exc:
        sys.exit(str(exc))
