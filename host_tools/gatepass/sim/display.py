"""A stand-in for micropython-lib's `ssd1306.SSD1306_I2C`: real pixels for everything drawn
with framebuf calls (glyphs blitted by drivers/glyphs.py), recorded text for the built-in
8x8 font (whose bitmaps are not modelled)."""
from __future__ import annotations

try:
    from functools import lru_cache

    from ..mp import framebuf as _fb
except ImportError:  # on MicroPython (gatepass.mp.board): the port's own framebuf
    import framebuf as _fb

    def lru_cache(maxsize=None):
        def deco(f):
            memo = []

            def once():
                if not memo:
                    memo.append(f())
                return memo[0]
            return once
        return deco


@lru_cache(maxsize=1)
def _glyph_names() -> dict[bytes, str]:
    """{bitmap rows: character} for every glyph the gate's glyph file can hold."""
    try:
        from .. import fonts
        from ..technician import glyphs

        out = {}
        for ch in glyphs.charset():
            g = fonts.hex_glyph(ch)
            if g is not None:
                out.setdefault(bytes(g[1]) + bytes([g[0]]), ch)
        return out
    except Exception:  # noqa: BLE001 - no font installed: glyphs read as "?"
        return {}


class FakeSSD1306(_fb.FrameBuffer):
    """Same methods the firmware uses: fill, text, blit, show, poweron/off, contrast, invert.

    Like the real driver it is a MONO_VLSB framebuf.FrameBuffer over `buffer`. `frames`
    holds one list of (x, y, text) per `show()` (text() calls, and glyph runs read back from
    their bitmaps); `pixels[i]` the buffer at that show(); `lines()` the rows of the last frame.
    """

    def __init__(self, width: int = 128, height: int = 32, i2c=None, addr: int = 0x3C,
                 external_vcc: bool = False):
        self.buffer = bytearray(width * ((height + 7) // 8))
        super().__init__(self.buffer, width, height, _fb.MONO_VLSB)
        self.width = width
        self.height = height
        self.i2c = i2c
        self.addr = addr
        self._draft: list[tuple[int, int, str]] = []
        self._glyphs: list[tuple[int, int, str]] = []  # (x, y, char) of blitted glyphs
        self.frames: list[list[tuple[int, int, str]]] = []
        self.pixels: list[bytes] = []
        self.powered = True
        self.contrast_level = 255
        self.inverted = False
        if i2c is not None and addr not in i2c.scan():
            raise OSError(19, "ENODEV")  # the real driver's first write would fail

    def fill(self, c: int) -> None:
        super().fill(c)
        if c == 0:
            self._draft = []
            self._glyphs = []

    def text(self, s: str, x: int, y: int, c: int = 1) -> None:
        if x + 8 * len(s) > self.width + 7:
            raise AssertionError(f"text {s!r} runs off a {self.width}-px display")
        if y + 8 > self.height:
            raise AssertionError(f"text row y={y} below a {self.height}-px display")
        self._draft.append((x, y, s))

    def blit(self, src, x, y, key=-1, palette=None) -> None:
        if x + src.width > self.width or y + src.height > self.height or x < 0 or y < 0:
            raise AssertionError(f"glyph at ({x}, {y}) runs off a {self.width}x{self.height} display")
        super().blit(src, x, y, key, palette)
        if getattr(src, "format", None) == _fb.MONO_HLSB and src.width in (8, 16):
            n = src.width // 8 * src.height
            self._glyphs.append((x, y, _glyph_names().get(bytes(src.buf[:n]) + bytes([src.width]), "?")))

    def _glyph_runs(self) -> list[tuple[int, int, str]]:
        runs: list[tuple[int, int, str]] = []
        for x, y, ch in sorted(self._glyphs, key=lambda e: (e[1], e[0])):
            if runs and runs[-1][1] == y:
                runs[-1] = (runs[-1][0], y, runs[-1][2] + ch)
            else:
                runs.append((x, y, ch))
        return runs

    def show(self) -> None:
        self.frames.append(list(self._draft) + self._glyph_runs())
        self.pixels.append(bytes(self.buffer))

    def lines(self) -> list[str]:
        if not self.frames:
            return []
        return [t for _, _, t in sorted(self.frames[-1], key=lambda e: (e[1], e[0]))]

    def poweroff(self) -> None:
        self.powered = False

    def poweron(self) -> None:
        self.powered = True

    def contrast(self, c: int) -> None:
        self.contrast_level = c

    def invert(self, i: int) -> None:
        self.inverted = bool(i)



class SSD1306Device:
    """An I2C device that ACKs at the display address (so scan() finds it)."""

    def __init__(self, addr: int = 0x3C):
        self.addr = addr
        self.bytes_written = 0
        self.bus = None

    def addresses(self):
        return (self.addr,)

    def write(self, addr, data):
        self.bytes_written += len(data)

    def read(self, addr, n):
        return b"\x00" * n

    def read_mem(self, addr, memaddr, n):
        return b"\x00" * n

    def write_mem(self, addr, memaddr, data):
        self.bytes_written += len(data)
