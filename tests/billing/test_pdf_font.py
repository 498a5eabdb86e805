"""The PDF font: Latin documents set in the configured font's Latin subset, others in the full
font, and the page the same either way. No database; the subset is cut into a private directory.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from pypdf import PdfReader

from libs.events import new_id
from libs.events.catalogue import encode
from services.billing import fonts, pdf
from services.billing.domain.ledger import fold
from services.billing.domain.specification import specification
from services.billing.schemas import InvoiceDocument, SpecifiedCall
from services.billing.settings import BillingSettings
from tests.billing.history import Numbers, call, issue_month, marked, registered, reported

SETTINGS = BillingSettings()
FONT = SETTINGS.pdf_font_path
pytestmark = pytest.mark.skipif(
    FONT is None or not Path(FONT).is_file(), reason="the configured TTF font is not installed"
)


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary directory of the test's own, the subset cache forgotten before and after."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    fonts.latin_subset.cache_clear()
    yield tmp_path
    fonts.latin_subset.cache_clear()


def _document(name: str, language: str) -> InvoiceDocument:
    client = new_id()
    calls = [call(client, f"2026-12-{day:02d}T10:00:00") for day in (8, 9, 10)]
    history = [
        registered(client, "2026-12-07T08:00:00", language=language), *calls,
        marked(calls[1], "wrong_number", "2026-12-09T10:05:00"),
        reported(client, calls, "2026-12-10T16:15:00"),
    ]  # fmt: skip
    [invoice] = issue_month(history, "2026-12", "2027-01-04T08:00:00", Numbers())
    data = json.loads(encode(invoice))
    billed = {UUID(c) for line in data["lines"] for c in line["call_ids"]}
    lines = specification(fold(history)[client], billed, "2026-12")
    specified = [SpecifiedCall.model_validate(line, from_attributes=True) for line in lines]
    row = {"name": name, "language": language, "contact_email": "info@client.example"}
    return pdf.document_view(data, row, SETTINGS, None, specified)


def _text(document: InvoiceDocument) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf.render(document, FONT)))
    return [page.extract_text() for page in reader.pages]


def test_a_latin_document_gets_the_subset_and_any_other_the_full_font(private_tmp: Path) -> None:
    assert FONT is not None
    latin = fonts.font_for(_document("Bäckerei Müller – Ærø", "de").model_dump_json(), FONT)
    assert Path(latin).parent.parent == private_tmp
    assert latin.endswith(f"-latin-{fonts.SUBSET_VERSION}.ttf")
    assert Path(latin).stat().st_size < Path(FONT).stat().st_size / 3
    assert fonts.font_for(_document("Αθηνά Ξενοδοχεία", "en").model_dump_json(), FONT) == FONT


@pytest.mark.parametrize("language", ["nl", "en", "de", "fr"])
def test_the_subset_prints_the_same_text_as_the_full_font(
    language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _document("Café Noël – Łódź", language)
    with_subset = _text(document)
    monkeypatch.setattr(fonts, "font_for", lambda text, path: path)
    assert with_subset == _text(document)
    assert "Café Noël – Łódź" in with_subset[0]


def test_a_name_outside_the_subset_is_printed_in_the_full_font() -> None:
    [first, *_] = _text(_document("Αθηνά Ξενοδοχεία", "en"))
    assert "Αθηνά Ξενοδοχεία" in first


def test_without_a_private_place_for_the_subset_every_document_gets_the_full_font(
    private_tmp: Path,
) -> None:
    assert FONT is not None
    (private_tmp / f"frontdesk-fonts-{os.getuid()}").write_text("not a directory")
    document = _document("Bakkerij Jansen", "nl")
    assert fonts.font_for(document.model_dump_json(), FONT) == FONT
    assert "Bakkerij Jansen" in _text(document)[0]
