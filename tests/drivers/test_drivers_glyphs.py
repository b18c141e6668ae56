"""The gate's Chinese display: the deploy-built glyph file (host_tools/gatepass/technician/glyphs.py) drawn
by drivers/glyphs.py on a framebuf display, pixels compared with a host rendering of the same
text from GNU Unifont — on CPython (gatepass.mp.framebuf) and on MicroPython (its own framebuf).
"""
from __future__ import annotations

import re

import pytest
from PIL import Image, ImageChops

from gatepass import fonts, sim
from gatepass.technician import glyphs

pytestmark = pytest.mark.skipif(not any(__import__("os").path.exists(p) for p in fonts.GLYPH_FONT_PATHS),
                                reason="GNU Unifont missing: make sysdeps")

CASES = [
    # (width, height, line1, line2, msg, extra, expected rows [(text, y)] or None for English)
    (128, 32, "Fever - staff", "called 37.8 C", "Fever - staff called", "37.8 C",
     [("体温异常请稍候", 0), ("37.8°C", 16)]),
    (128, 64, "Fever - staff", "called 37.8 C", "Fever - staff called", "37.8 C",
     [("体温异常请稍候", 8), ("37.8°C", 40)]),
    (128, 32, "Pass expired", "", "Pass expired", "", [("通行证已过期", 0)]),
    (128, 64, "Other community", "", "Other community", "", [("非本小区通行证", 8)]),
    (128, 32, "Please wait", "one at a time", None, "", [("请稍候", 0), ("请逐一通行", 16)]),
    (128, 32, "Welcome - no", "time", "Welcome - no time", "", [("通行 时钟未校准", 0)]),
]


def _unifont() -> dict[str, bytes]:
    """The reference: Unifont's .hex read here, independently of the glyph-file code."""
    out = {}
    with open(fonts.glyph_font_path()) as f:
        for line in f:
            cp, _, bits = line.strip().partition(":")
            out[chr(int(cp, 16))] = bytes.fromhex(bits)
    return out


_REF: dict[str, bytes] = {}


def reference(w: int, h: int, rows: list[tuple[str, int]]) -> Image.Image:
    """What the panel must show: each text centred in its 16-px row, Unifont glyphs."""
    if not _REF:
        _REF.update(_unifont())
    img = Image.new("1", (w, h), 0)
    for text, y in rows:
        widths = [len(_REF[c]) // 2 for c in text]  # 16 bytes: 8 px wide, 32: 16 px
        x = (w - sum(widths)) // 2
        for c, gw in zip(text, widths):
            img.paste(Image.frombytes("1", (gw, 16), _REF[c]), (x, y))
            x += gw
    return img


def vlsb_image(buf: bytes, w: int, h: int) -> Image.Image:
    img = Image.new("1", (w, h), 0)
    for y in range(h):
        for x in range(w):
            if buf[(y >> 3) * w + x] >> (y & 7) & 1:
                img.putpixel((x, y), 1)
    return img


def diff(a: Image.Image, b: Image.Image) -> int:
    return ImageChops.logical_xor(a, b).histogram()[255]


@pytest.fixture(scope="module")
def glyph_file() -> bytes:
    return glyphs.build_glyph_file()


def test_glyph_file_holds_the_catalog_and_nothing_else(glyph_file):
    sim.install()
    sim.uninstall()
    from app import reasons

    held = glyphs.read_glyph_file(glyph_file)
    want = set(glyphs.ALWAYS + glyphs.GATE_WORDS)
    for en, zh in reasons.texts():
        want.update(zh)
        # one line of a 128-px panel: at most 8 CJK characters
        assert sum(held[c][0] for c in zh) <= 128, (en, zh)
    assert set(held) == want
    for c, (w, rows) in held.items():
        assert fonts.hex_glyph(c) == (w, rows)
        assert w == (16 if ord(c) > 0x2E80 else 8), c
    assert len(glyph_file) < 8 * 1024  # measured: docs/hardware.md
    # every reason code has its Chinese, and the catalog has no English leftovers
    for code in [getattr(reasons, n) for n in dir(reasons) if n.isupper() and not n.startswith("_")]:
        zh = reasons.message(code, "zh")
        assert zh != reasons.message(code) and re.search(r"[\u4e00-\u9fff]", zh), code
        assert reasons.zh(reasons.message(code)) == zh


def test_extra_text_adds_its_glyphs_and_skips_what_the_font_lacks():
    held = glyphs.read_glyph_file(glyphs.build_glyph_file(extra="幸福\U0001F600"))
    assert "幸" in held and "福" in held and "\U0001F600" not in held
    assert "幸" not in glyphs.read_glyph_file(glyphs.build_glyph_file())


def test_missing_font_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEPASS_GLYPH_FONT", str(tmp_path / "nope.hex"))
    with pytest.raises(fonts.FontMissing, match="GATEPASS_GLYPH_FONT"):
        fonts.glyph_font_path()
    monkeypatch.delenv("GATEPASS_GLYPH_FONT")
    monkeypatch.setattr(fonts, "GLYPH_FONT_PATHS", (str(tmp_path / "nope.hex"),))
    with pytest.raises(fonts.FontMissing, match="apt-get install unifont"):
        fonts.glyph_font_path()


def _draw_cpython(data: bytes, w, h, l1, l2, msg, extra):
    from drivers import glyphs as g

    d = sim.FakeSSD1306(w, h)
    d.fill(0)
    g.lines(d, g.GlyphFont(data), w // 8, l1, l2, msg, extra)
    d.show()
    return d


@pytest.mark.parametrize("w, h, l1, l2, msg, extra, rows", CASES)
def test_drawing_matches_the_host_rendering_cpython(glyph_file, w, h, l1, l2, msg, extra, rows):
    d = _draw_cpython(glyph_file, w, h, l1, l2, msg, extra)
    got = vlsb_image(d.pixels[-1], w, h)
    want = reference(w, h, rows)
    assert diff(got, want) == 0
    assert d.lines() == [t for t, _ in rows]
    assert want.histogram()[255] > 60 * len(rows)  # the comparison is not blank against blank


_MP_DRAW = """
import framebuf, time
from drivers import glyphs
class D(framebuf.FrameBuffer):
    def __init__(self, w, h):
        self.buffer = bytearray(w * h // 8)
        super().__init__(self.buffer, w, h, framebuf.MONO_VLSB)
        self.width = w
        self.height = h
font = glyphs.load('/glyphs.bin')
out = []
for w, h, l1, l2, msg, extra in %r:
    d = D(w, h)
    t0 = time.ticks_us()
    for _ in range(20):
        d.fill(0)
        glyphs.lines(d, font, w // 8, l1, l2, msg, extra)
    us = time.ticks_diff(time.ticks_us(), t0) // 20
    out.append((bytes(d.buffer), us))
print('@@RESULT@@' + repr(out))
"""


def test_drawing_matches_the_host_rendering_micropython(mpy, glyph_file):
    from gatepass.mp.runtime import _parse_result

    args = [c[:6] for c in CASES]
    res = _parse_result(mpy.run(_MP_DRAW % (args,), files={"/glyphs.bin": glyph_file}))
    for (w, h, *_r, rows), (buf, us) in zip(CASES, res):
        assert diff(vlsb_image(buf, w, h), reference(w, h, rows)) == 0, rows
        assert 0 < us < 200_000


def test_a_missing_glyph_falls_back_to_english(glyph_file):
    held = glyphs.read_glyph_file(glyph_file)
    del held["稍"]  # 体温异常请稍候 can no longer be drawn
    d = _draw_cpython(glyphs.pack_glyphs(held), 128, 32, "Fever - staff", "called 37.8 C",
                      "Fever - staff called", "37.8 C")
    # the English lines, each centred in its row (8x8 built-in font, recorded as text)
    assert d.lines() == ["Fever - staff", "called 37.8 C"]
    # a line neither font can draw is left empty, never boxes: a Chinese label without glyphs
    d = _draw_cpython(glyph_file, 128, 32, "Welcome", "蔬菜配送", "Welcome", "蔬菜配送")
    assert d.lines() == ["欢迎通行"]
    d = _draw_cpython(glyph_file, 128, 32, "Welcome", "蔬菜配送", None, "")
    assert d.lines() == ["欢迎通行"]


def test_damaged_or_absent_glyph_file_means_english(tmp_path, glyph_file):
    from drivers import glyphs as g

    assert g.load(str(tmp_path / "absent.bin")) is None
    for bad in (b"", b"GPF1", glyph_file[:-1], b"XXXX" + glyph_file[4:]):
        p = tmp_path / "bad.bin"
        p.write_bytes(bad)
        assert g.load(str(p)) is None, bad[:8]
    p.write_bytes(glyph_file)
    assert g.load(str(p)).fits("欢迎通行")


def test_indicator_shows_chinese_only_when_asked(glyph_file):
    with sim.installed(clock=sim.VirtualClock()):
        from drivers import glyphs as g
        from drivers import indicator as I

        oled = sim.FakeSSD1306(128, 32)
        ind = I.Indicator(18, 19, buzzer=23, display=oled)
        ind.show(I.ALLOW, "Welcome", "36.6 C", "Welcome", "36.6 C")
        assert oled.lines() == ["Welcome", "36.6 C"]  # English by default
        ind.set_lang("zh", g.GlyphFont(glyph_file))
        ind.show(I.ALLOW, "Welcome", "36.6 C", "Welcome", "36.6 C")
        assert oled.lines() == ["欢迎通行", "36.6°C"]
        ind.text("gate-1", "ready")
        assert oled.lines() == ["gate-1", "请扫码通行"]
        ind.set_lang("en", g.GlyphFont(glyph_file))
        ind.text("gate-1", "ready")
        assert oled.lines() == ["gate-1", "ready"]
