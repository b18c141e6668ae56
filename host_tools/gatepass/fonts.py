"""The CJK fonts the host tools use, both from Debian packages (`make sysdeps` installs them).

- Cards and pass images: WenQuanYi Micro Hei (`fonts-wqy-microhei`), a TrueType collection
  with glyf outlines, so reportlab embeds it in the PDF as a subset (only the glyphs used).
  Override with GATEPASS_CARD_FONT=/path/to/font.ttf|.ttc.
- The gate's display: GNU Unifont (`unifont`), a bitmap font with a 16x16 glyph for every
  CJK character and 8x16 for Latin, as a plain .hex file. `gatepass deploy` copies the
  glyphs the message catalog uses into the gate's glyph file (gatepass/technician/glyphs.py).
  Override with GATEPASS_GLYPH_FONT=/path/to/unifont.hex[.gz].

A missing font is a FontMissing error whose message says which package to install.
"""
from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

CARD_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora's layout
)
CARD_FONT_PACKAGE = "fonts-wqy-microhei"
GLYPH_FONT_PATHS = (
    "/usr/share/unifont/unifont.hex",
    "/usr/share/unifont/unifont.hex.gz",
)
GLYPH_FONT_PACKAGE = "unifont"
CARD_FONT_NAME = "GatepassCJK"  # reportlab's name for the registered card font


class FontMissing(RuntimeError):
    """A font file is not installed; the message names the package and the variable."""


def _find(env: str, paths: tuple[str, ...], package: str, what: str) -> Path:
    given = os.environ.get(env)
    if given:
        p = Path(given)
        if not p.is_file():
            raise FontMissing("%s=%s: no such file (%s)" % (env, given, what))
        return p
    for c in paths:
        if Path(c).is_file():
            return Path(c)
    raise FontMissing("no %s: install the Debian package %s (`make sysdeps`: apt-get install %s) "
                      "or set %s to a font file" % (what, package, package, env))


def card_font_path() -> Path:
    """The TrueType font for cards and pass images."""
    return _find("GATEPASS_CARD_FONT", CARD_FONT_PATHS, CARD_FONT_PACKAGE,
                 "CJK font for printed cards (WenQuanYi Micro Hei)")


def glyph_font_path() -> Path:
    """GNU Unifont's .hex file for the gate's 16x16 glyphs."""
    return _find("GATEPASS_GLYPH_FONT", GLYPH_FONT_PATHS, GLYPH_FONT_PACKAGE,
                 "16x16 CJK bitmap font for the gate display (GNU Unifont)")


def register_card_font() -> str:
    """Register the card font with reportlab (once); returns its reportlab font name.
    reportlab embeds TrueType fonts as subsets: only the glyphs a PDF uses."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont, TTFError

    if CARD_FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        path = card_font_path()
        try:
            font = TTFont(CARD_FONT_NAME, str(path), subfontIndex=0)
        except TTFError as e:
            raise FontMissing("%s: not a TrueType font reportlab can embed (%s); CFF-based "
                              "OpenType fonts such as Noto CJK cannot be used" % (path, e)) from None
        pdfmetrics.registerFont(font)
    return CARD_FONT_NAME


def pil_font(size: int):
    """The card font for Pillow at `size` pixels (pass images)."""
    return _pil_font(str(card_font_path()), size)


@lru_cache(maxsize=32)
def _pil_font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size, index=0)


@lru_cache(maxsize=4)
def _hex_table(path: str) -> dict[int, str]:
    opener = gzip.open if path.endswith(".gz") else open
    table: dict[int, str] = {}
    with opener(path, "rt", encoding="ascii") as f:
        for line in f:
            cp, _, bits = line.strip().partition(":")
            if bits and len(cp) <= 6:
                table[int(cp, 16)] = bits
    return table


def hex_glyph(ch: str) -> tuple[int, bytes] | None:
    """(width 8 or 16, 16 rows of width/8 bytes, leftmost pixel in the top bit) of `ch`
    in GNU Unifont, or None when the font has no such glyph."""
    bits = _hex_table(str(glyph_font_path())).get(ord(ch))
    if bits is None:
        return None
    data = bytes.fromhex(bits)
    if len(data) == 16:
        return 8, data
    if len(data) == 32:
        return 16, data
    return None  # other sizes (a few wide symbols in later planes): not for the gate
