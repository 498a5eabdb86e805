"""Read a service's settings classes from a given environment instead of the process's own."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TypeVar

import pytest
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)

_SETTINGS_VARIABLES = ("FRONTDESK_", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")


@contextlib.contextmanager
def settings_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Replace every settings variable of the process environment with those of env inside."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(_SETTINGS_VARIABLES):
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def read_settings(kind: type[S], env: Mapping[str, str]) -> S:
    """Settings of one kind, read from exactly env."""
    with settings_environment(env):
        return kind()
