"""Run a service's app: `python -m libs.platform.serve services.calls.app:create_app`.

Settings come from the environment (FRONTDESK_SERVICE, DATABASE_URL, ...).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from libs.platform.settings import Settings


def load_factory(target: str) -> Callable[[Settings], FastAPI]:
    """Import `module:function` naming an app factory."""
    module_name, _, attr = target.partition(":")
    factory: Callable[[Settings], FastAPI] = getattr(importlib.import_module(module_name), attr)
    return factory


def main(argv: list[str]) -> None:
    """Build the app from the environment's settings and serve it until stopped."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m libs.platform.serve <module:create_app>")
    settings = Settings()  # read from the environment
    app = load_factory(argv[0])(settings)
    uvicorn.run(app, host=settings.http_host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
