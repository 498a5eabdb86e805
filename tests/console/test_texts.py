"""Every text the console and the portal show exists in nl, en, de and fr (pure: the files).

The keys are what the pages name in data-t attributes and the scripts pass to t(); keys built
from a value (`state.${...}`) must exist for every value the APIs can send.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import typing
from pathlib import Path

import pytest

from libs.events.calls import FollowUp, NonBillableReason
from libs.events.values import Language
from services.billing.schemas import InvoiceSummary
from services.notify.schemas import State

STATIC = Path(__file__).resolve().parents[2] / "services" / "console" / "static"
LANGUAGES = ("nl", "en", "de", "fr")


def texts() -> dict[str, dict[str, str]]:
    """The TEXTS table of i18n.js, per language."""
    source = (STATIC / "i18n.js").read_text()
    found: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        block = re.search(rf"\n  {language}: \{{\n(.*?)\n  \}},", source, re.S)
        assert block, f"no {language} block"
        found[language] = dict(
            re.findall(r'^\s+"([a-z_.]+)": "((?:[^"\\]|\\.)*)",$', block.group(1), re.M)
        )
    return found


def used() -> set[str]:
    """The keys the pages and scripts name literally."""
    keys: set[str] = set()
    for page in STATIC.glob("*.html"):
        keys |= set(re.findall(r'data-t="([a-z_.]+)"', page.read_text()))
    for script in STATIC.glob("*.js"):
        keys |= set(re.findall(r'\bt\("([a-z_.]+)"\)', script.read_text()))
    return keys


def test_every_language_has_the_same_keys_and_no_empty_text() -> None:
    table = texts()
    for language in LANGUAGES:
        assert set(table[language]) == set(table["en"]), language
        assert all(text.strip() for text in table[language].values()), language


def test_every_key_the_pages_use_has_a_text() -> None:
    missing = used() - set(texts()["en"])
    assert not missing


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("follow.", typing.get_args(FollowUp)),
        ("reason.", typing.get_args(NonBillableReason)),
        ("state.", typing.get_args(InvoiceSummary.model_fields["state"].annotation)),
        ("escalation.", ("dispatched", "acknowledged", "exhausted")),
        ("calendar.", ("free", "busy", "unknown", "none")),
        ("delivery.", typing.get_args(State)),
        ("language.", typing.get_args(Language)),
    ],
)
def test_texts_built_from_values_cover_every_value(prefix: str, values: tuple[str, ...]) -> None:
    assert values
    table = texts()["en"]
    assert {f"{prefix}{v}" for v in values} <= set(table)


@pytest.mark.parametrize("script", sorted(p.name for p in STATIC.glob("*.js")))
def test_every_script_parses_as_a_module(script: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (it installs the console's libraries too)"
    module = tmp_path / f"{script}.mjs"
    module.write_text((STATIC / script).read_text())
    checked = subprocess.run([node, "--check", str(module)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
