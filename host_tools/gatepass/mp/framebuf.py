"""MicroPython's `framebuf` for CPython: the monochrome formats, pixel-exact.

gatepass.mp.compat.install() makes it `framebuf` (unless a real one exists), so drivers/glyphs.py and the SSD1306
stand-in (sim/display.py) draw real pixels on CPython. Same constants, positional
signatures and clipping as MicroPython's extmod/modframebuf.c for MONO_VLSB (the SSD1306's
layout), MONO_HLSB and MONO_HMSB. `text()` (the built-in 8x8 font) is not modelled here:
the display stand-in records text instead.
"""
from __future__ import annotations

MONO_VLSB = 0
MVLSB = MONO_VLSB
RGB565 = 1
GS4_HMSB = 2
MONO_HLSB = 3
MONO_HMSB = 4
GS2_HMSB = 5
GS8 = 6

_MONO = (MONO_VLSB, MONO_HLSB, MONO_HMSB)


class FrameBuffer:
    def __init__(self, buf, width, height, format, stride=None):  # noqa: A002 - MicroPython's name
        if format not in _MONO:
            raise ValueError("sim framebuf: monochrome formats only")
        self.buf = buf if isinstance(buf, memoryview) else memoryview(buf)
        self.width = width
        self.height = height
        self.format = format
        stride = width if stride is None else stride
        if format == MONO_VLSB:
            need = ((height + 7) >> 3) * stride
        else:
            stride = (stride + 7) & ~7
            need = (stride * height + 7) >> 3
        if len(self.buf) < need:
            raise ValueError("buffer too small")
        self.stride = stride

    # -- pixels --------------------------------------------------------------------------
    def _idx(self, x, y):
        if self.format == MONO_VLSB:
            return (y >> 3) * self.stride + x, y & 7
        i = y * self.stride + x
        return i >> 3, (7 - (i & 7)) if self.format == MONO_HLSB else (i & 7)

    def _get(self, x, y):
        i, b = self._idx(x, y)
        return (self.buf[i] >> b) & 1

    def _set(self, x, y, c):
        i, b = self._idx(x, y)
        if c & 1:
            self.buf[i] |= 1 << b
        else:
            self.buf[i] &= ~(1 << b) & 0xFF

    def pixel(self, x, y, c=None):
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        if c is None:
            return self._get(x, y)
        self._set(x, y, c)
        return None

    def fill(self, c):
        self.buf[:] = (b"\xff" if c & 1 else b"\x00") * len(self.buf)

    def fill_rect(self, x, y, w, h, c):
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                self._set(xx, yy, c)

    def hline(self, x, y, w, c):
        self.fill_rect(x, y, w, 1, c)

    def vline(self, x, y, h, c):
        self.fill_rect(x, y, 1, h, c)

    def rect(self, x, y, w, h, c, f=False):
        if f:
            self.fill_rect(x, y, w, h, c)
            return
        self.fill_rect(x, y, w, 1, c)
        self.fill_rect(x, y + h - 1, w, 1, c)
        self.fill_rect(x, y, 1, h, c)
        self.fill_rect(x + w - 1, y, 1, h, c)

    def blit(self, src, x, y, key=-1, palette=None):
        if palette is not None:
            raise ValueError("sim framebuf: no palette")
        for sy in range(src.height):
            yy = y + sy
            if not 0 <= yy < self.height:
                continue
            for sx in range(src.width):
                xx = x + sx
                if not 0 <= xx < self.width:
                    continue
                c = src._get(sx, sy)
                if c != key:
                    self._set(xx, yy, c)

    def scroll(self, dx, dy):
        snap = [[self._get(x, y) for x in range(self.width)] for y in range(self.height)]
        for y in range(self.height):
            for x in range(self.width):
                sx, sy = x - dx, y - dy
                if 0 <= sx < self.width and 0 <= sy < self.height:
                    self._set(x, y, snap[sy][sx])

    def text(self, s, x, y, c=1):
        raise NotImplementedError("sim framebuf: the 8x8 font is not modelled")

    # -- host helpers (not in MicroPython) ----------------------------------------------
    def rows(self) -> list[list[int]]:
        """The pixels as rows of 0/1."""
        return [[self._get(x, y) for x in range(self.width)] for y in range(self.height)]
