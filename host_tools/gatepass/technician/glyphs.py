"""The gate's Chinese: glyph file and voice prompts, built at deploy time from the message
catalog (firmware/app/reasons.py).

    data = build_glyph_file(extra="北门")        # bytes for /glyphs.bin (firmware/drivers/glyphs.py)
    data = build_voice_file()                    # bytes for /voice.bin (firmware/drivers/voice.py)

Glyphs come from GNU Unifont (gatepass.fonts): 16x16 for CJK, 8x16 for digits and Latin.
Only the characters the catalog uses go in, plus the digits and signs of a temperature and
whatever `extra` text the device shows (its gate name). Voice prompts are GB2312 bytes:
MicroPython has no GB2312 codec, so the host encodes them.
"""
from __future__ import annotations

import struct

from .. import fonts

MAGIC = b"GPF1"
HEIGHT = 16
# a temperature ("37.8 C"), times and counts: always drawable in the glyph font
ALWAYS = "0123456789 .-:%C°"
VOICE_MAGIC = b"GPV1"


class GlyphError(ValueError):
    """The catalog uses a character the font lacks (message names it)."""


def _reasons():
    from ..mp.fw import fw_import

    return fw_import("app.reasons")


def catalog_text() -> list[str]:
    """Every Chinese text the gate can show."""
    return [zh for _en, zh in _reasons().texts()]


def charset(extra: str = "") -> list[str]:
    """Sorted distinct characters of the catalog, ALWAYS and `extra`."""
    chars = set(ALWAYS)
    for t in catalog_text():
        chars.update(t)
    chars.update(c for c in extra if c.isprintable())
    return sorted(chars)


def build_glyph_file(extra: str = "", strict: bool = True) -> bytes:
    """The glyph file (layout: firmware/drivers/glyphs.py). A catalog character missing from
    the font is a GlyphError (strict), characters of `extra` the font lacks are left out:
    the gate then shows that text in English."""
    catalog = set(ALWAYS)
    for t in catalog_text():
        catalog.update(t)
    entries: list[tuple[int, int, bytes]] = []
    for ch in charset(extra):
        if ord(ch) > 0xFFFF:
            continue
        g = fonts.hex_glyph(ch)
        if g is None:
            if strict and ch in catalog:
                raise GlyphError("the font has no glyph for %r (U+%04X) used by the message catalog"
                                 % (ch, ord(ch)))
            continue
        w, rows = g
        entries.append((ord(ch), w, rows))
    return pack_glyphs({chr(cp): (w, rows) for cp, w, rows in entries})


def pack_glyphs(glyphs: dict[str, tuple[int, bytes]]) -> bytes:
    """{character: (width, rows)} -> glyph file bytes (sorted by code point)."""
    index = bytearray()
    bitmaps = bytearray()
    for ch in sorted(glyphs):
        w, rows = glyphs[ch]
        if len(bitmaps) > 0xFFFF:
            raise GlyphError("glyph file too large")
        index += struct.pack("<HHB", ord(ch), len(bitmaps), w)
        bitmaps += rows
    return MAGIC + struct.pack("<HBB", len(glyphs), HEIGHT, 0) + bytes(index) + bytes(bitmaps)


def read_glyph_file(data: bytes) -> dict[str, tuple[int, bytes]]:
    """{character: (width, rows)} of a glyph file (host-side check of what was built)."""
    if data[:4] != MAGIC:
        raise GlyphError("not a glyph file")
    n, h, _ = struct.unpack_from("<HBB", data, 4)
    base = 8 + 5 * n
    out = {}
    for i in range(n):
        cp, off, w = struct.unpack_from("<HHB", data, 8 + 5 * i)
        out[chr(cp)] = (w, data[base + off: base + off + w // 8 * h])
    return out


def build_voice_file() -> bytes:
    """The spoken prompts as GB2312: b"GPV1", count u8, then per prompt a length byte and
    the bytes, in reasons.prompts() order (firmware/drivers/voice.py reads it)."""
    out = bytearray(VOICE_MAGIC)
    ps = _reasons().prompts()
    out.append(len(ps))
    for p in ps:
        b = p.encode("gb2312")
        if len(b) > 200:  # the SYN6288's limit per synthesis frame
            raise GlyphError("prompt %r longer than 200 bytes in GB2312" % p)
        out.append(len(b))
        out += b
    return bytes(out)
