"""The PDF font: a Latin subset of the configured TTF, made once, for the documents it covers.

fpdf2 parses the whole font file for every document it renders; for a full Unicode font
(DejaVu Sans: 6,253 glyphs) that parse is about half of what a PDF costs, and the PDF embeds
only the glyphs it uses anyway. The subset keeps the glyphs of Latin script, punctuation and
currency signs (everything an invoice in nl, en, de or fr prints) with the same outlines and
widths, so a page comes out the same; a document with any character outside it (a client
named in Greek, say) is rendered with the full font. The subset is written next to other
temporary files, once per font file and version, and read back by every later process.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import structlog
from fontTools import subset  # type: ignore[import-untyped]  # fontTools ships no type hints
from fontTools.ttLib import TTFont, TTLibError  # type: ignore[import-untyped]

LATIN = (
    *range(0x20, 0x7F), *range(0xA0, 0x180), *range(0x2000, 0x2070), *range(0x20A0, 0x20C1),
    *range(0x2100, 0x2150),
)  # fmt: skip
"""Basic Latin, Latin-1, Latin Extended-A, punctuation, currency signs, letterlike symbols: the
languages of Europe's Latin script (a smaller font is a quicker parse for every document)."""
SUBSET_VERSION = 3
"""Part of the subset's file name: raise it when the subset is cut differently."""
log = structlog.get_logger(__name__)


def font_for(text: str, font_path: str) -> str:
    """The font file to render `text` with: the Latin subset when it has every character."""
    latin = latin_subset(font_path)
    if latin is None:
        return font_path
    path, covered = latin
    return str(path) if covered.issuperset(text) else font_path


@lru_cache(maxsize=4)
def latin_subset(font_path: str) -> tuple[Path, frozenset[str]] | None:
    """The Latin subset of a font file and the characters it has; None when there is none to
    be had (not a TTF, no private place to keep it, a font fontTools cannot cut): then every
    document gets the full font, as before there was a subset."""
    source = Path(font_path)
    if source.suffix.lower() != ".ttf" or not source.is_file():
        return None
    try:
        directory = _cache_dir()
        if directory is None:
            return None
        target = directory / f"{source.stem}-{_version(source)}-latin-{SUBSET_VERSION}.ttf"
        if not target.is_file():
            _write_subset(source, target)
        font = TTFont(target, lazy=True)
        covered = frozenset(chr(code) for code in font.getBestCmap())
        font.close()
    except (OSError, TTLibError):
        log.warning("billing.pdf_font_subset_unavailable", font=font_path, exc_info=True)
        return None
    return target, covered


def _version(source: Path) -> str:
    """A short digest of the font file, so a changed font gets a new subset."""
    return hashlib.sha256(source.read_bytes()).hexdigest()[:16]


def _cache_dir() -> Path | None:
    """This user's own directory for subsets (None if someone else owns the name: a font
    planted there would end up in every invoice)."""
    directory = Path(tempfile.gettempdir()) / f"frontdesk-fonts-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    owned = directory.lstat()
    if owned.st_uid != os.getuid() or not directory.is_dir() or directory.is_symlink():
        return None
    return directory


def _write_subset(source: Path, target: Path) -> None:
    """Cut the subset and move it into place in one step (other processes may read it)."""
    options = subset.Options(
        notdef_outline=True, recommended_glyphs=True, glyph_names=True, name_IDs=["*"],
        name_languages=["*"], hinting=True,
    )  # fmt: skip
    # Tables fpdf2 drops from every embedded font anyway (it shapes no text), and FontForge's
    # timestamps, which fontTools cannot cut.
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "kern"]
    font = TTFont(source)
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=LATIN)
    cutter.subset(font)
    handle, partial = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
    os.close(handle)
    font.save(partial)
    font.close()
    os.replace(partial, target)
