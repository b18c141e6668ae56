"""The gate's Chinese: glyph file and voice prompts, built at deploy time from the message
catalog (firmware/app/reasons.py).

    data = build_glyph_file(extra="北门")        # bytes for /glyphs.bin (firmware/drivers/glyphs.py)
    data = build_voice_file()                    # bytes for /voice.bin (firmware/drivers/voice.py)

Glyphs come from GNU Unifont (gatepass.fonts): 16x16 for CJK, 8x16 for digits and Latin.
Only the characters the catalog uses go in, plus the digits and signs of a temperature, the
words Chinese gate names are made of (GATE_WORDS) and any `extra` text. Voice prompts are GB2312 bytes:
MicroPython has no GB2312 codec, so the host encodes them.
"""
from __future__ import annotations

import struct

from .. import fonts

MAGIC = b"GPF1"
HEIGHT = 16
# a temperature ("37.8 C"), times and counts: always drawable in the glyph font
ALWAYS = "0123456789 .-:%C°"
# words of Chinese gate names (北门, 东门入口, 3号岗, 南区出口): the ready screen shows the name
GATE_WORDS = "东南西北中正侧后前门口出入号岗亭大小区楼栋单元一二三四五六七八九十"
VOICE_MAGIC = b"GPV1"


class GlyphError(ValueError):
    """The catalog uses a character the font lacks (message names it)."""


def _reasons():
    from ..mp.fw import fw_import

    return fw_import("app.reasons")


def load_catalog(fw_dir=None):
    """app/reasons.py of the firmware tree `fw_dir` (None: this checkout's, imported once)."""
    if fw_dir is None:
        return _reasons()
    import importlib.util
    from pathlib import Path

    from ..mp import compat

    compat.install()
    path = Path(fw_dir) / "app" / "reasons.py"
    spec = importlib.util.spec_from_file_location("gatepass_deployed_reasons", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def catalog_text(reasons=None) -> list[str]:
    """Every Chinese text the gate can show."""
    return [zh for _en, zh in (reasons or _reasons()).texts()]


def charset(extra: str = "", reasons=None) -> list[str]:
    """Sorted distinct characters of the catalog, ALWAYS, GATE_WORDS and `extra`."""
    chars = set(ALWAYS + GATE_WORDS)
    for t in catalog_text(reasons):
        chars.update(t)
    chars.update(c for c in extra if c.isprintable())
    return sorted(chars)


def build_glyph_file(extra: str = "", strict: bool = True, reasons=None) -> bytes:
    """The glyph file (layout: firmware/drivers/glyphs.py). A catalog character missing from
    the font is a GlyphError (strict), characters of `extra` the font lacks are left out:
    the gate then shows that text in English."""
    catalog = set(ALWAYS + GATE_WORDS)
    for t in catalog_text(reasons):
        catalog.update(t)
    entries: list[tuple[int, int, bytes]] = []
    for ch in charset(extra, reasons):
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


def build_voice_file(reasons=None) -> bytes:
    """The spoken prompts as GB2312: b"GPV1", count u8, then per prompt a length byte and
    the bytes, in reasons.prompts() order (firmware/drivers/voice.py reads it)."""
    out = bytearray(VOICE_MAGIC)
    ps = (reasons or _reasons()).prompts()
    out.append(len(ps))
    for p in ps:
        b = p.encode("gb2312")
        if len(b) > 200:  # the SYN6288's limit per synthesis frame
            raise GlyphError("prompt %r longer than 200 bytes in GB2312" % p)
        out.append(len(b))
        out += b
    return bytes(out)
