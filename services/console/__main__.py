"""Serve the console: `python -m services.console` (settings from FRONTDESK_CONSOLE_*)."""

from __future__ import annotations

import uvicorn

from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    """Build the console from the environment and serve it until stopped."""
    settings = ConsoleSettings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level="warning")  # fmt: skip


if __name__ == "__main__":
    main()
