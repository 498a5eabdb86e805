"""Headless Chromium for the browser tests: Debian's `chromium` package, driven by Playwright.

Playwright's own browser download cannot be had everywhere; Debian's Chromium works with it
when named by `executable_path`. On a machine without it, it is installed with apt-get when
running as root (CI); otherwise the error says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Chromium quiet on a closed network: no background connections, no update checks."""
INSTALL_SECONDS = 900


class BrowserUnavailable(RuntimeError):
    """No Chromium, and it could not be installed."""


def ensure_chromium() -> str:
    """The path of Debian's Chromium, installing the package first where that is possible."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BrowserUnavailable(
            "the browser tests need Debian's Chromium: apt-get install chromium"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    for command in (["apt-get", "update", "-qq"], install):
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=INSTALL_SECONDS, check=False)  # fmt: skip
        if done.returncode != 0:
            raise BrowserUnavailable(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        raise BrowserUnavailable("apt-get installed chromium, yet /usr/bin/chromium is missing")
    return str(CHROMIUM)
