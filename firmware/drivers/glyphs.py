"""Chinese text on a framebuf display, from the glyph file `gatepass deploy` writes.

    font = glyphs.load("/glyphs.bin")            # None when absent or damaged
    font.fits("体温异常请稍候")                   # every glyph present?
    font.draw(display, "体温异常请稍候", x, y)    # blits 16x16 (CJK) / 8x16 (digits) glyphs
    glyphs.lines(display, font, 16, "Fever - staff", "called 37.8 C",
                 "Fever - staff called", "37.8 C")   # the indicator's two display lines

The file holds only the glyphs of the gate's message catalog (app/reasons.py), rendered on
the host from GNU Unifont (host_tools/gatepass/technician/glyphs.py). Layout, little-endian:

    b"GPF1", count u16, height u8 (16), 0
    count entries of 5 bytes, sorted by code point: code point u16, offset u16, width u8
    bitmaps from offset 8 + 5 * count: `height` rows of width/8 bytes each, MONO_HLSB
    (the leftmost pixel in the top bit), so one framebuf.FrameBuffer shows a glyph as is

A text with a code point the file lacks does not fit: the caller shows its English instead
(drivers/indicator.py), never a box or garbage. Drawing needs no buffer per glyph: the
bitmap is copied into one preallocated buffer and blitted with key 0 (transparent).
"""
import framebuf

from app import reasons

MAGIC = b"GPF1"
_HDR = 8
_ENT = 5


class GlyphFont:
    def __init__(self, data):
        if len(data) < _HDR or bytes(data[:4]) != MAGIC:
            raise ValueError("not a gatepass glyph file")
        n = data[4] | (data[5] << 8)
        h = data[6]
        if h < 8 or h > 32 or len(data) < _HDR + _ENT * n:
            raise ValueError("glyph file truncated or damaged")
        self.count = n
        self.height = h
        self._d = data
        self._dm = memoryview(data)
        self._bm = _HDR + _ENT * n
        self._buf = bytearray(4 * h)  # one glyph up to 32 px wide
        self._mv = memoryview(self._buf)
        self._fb = {}
        for w in (8, 16, 24, 32):
            self._fb[w] = framebuf.FrameBuffer(self._buf, w, h, framebuf.MONO_HLSB)
        # every glyph inside the file: a damaged file is refused here, not while drawing
        size = len(data) - self._bm
        for i in range(n):
            e = _HDR + _ENT * i
            w = data[e + 4]
            if w not in self._fb or (data[e + 2] | (data[e + 3] << 8)) + (w >> 3) * h > size:
                raise ValueError("glyph file truncated or damaged")

    def find(self, cp):
        """Index entry offset of code point `cp`, -1 when the file lacks it."""
        d = self._d
        lo = 0
        hi = self.count - 1
        while lo <= hi:
            mid = (lo + hi) >> 1
            e = _HDR + _ENT * mid
            c = d[e] | (d[e + 1] << 8)
            if c == cp:
                return e
            if c < cp:
                lo = mid + 1
            else:
                hi = mid - 1
        return -1

    def width(self, text):
        """Width in pixels of `text`, -1 when a glyph is missing."""
        d = self._d
        px = 0
        for ch in text:
            e = self.find(ord(ch))
            if e < 0:
                return -1
            px += d[e + 4]
        return px

    def fits(self, text):
        return self.width(text) >= 0

    def draw(self, fb, text, x, y):
        """Blit `text` at (x, y) onto framebuf `fb` (colour 1); returns the x after it.
        Missing glyphs are skipped: check `fits()` first."""
        d = self._d
        buf = self._mv
        h = self.height
        for ch in text:
            e = self.find(ord(ch))
            if e < 0:
                continue
            w = d[e + 4]
            n = (w >> 3) * h
            off = self._bm + (d[e + 2] | (d[e + 3] << 8))
            buf[0:n] = self._dm[off:off + n]
            fb.blit(self._fb[w], x, y, 0)
            x += w
        return x


def load(path):
    """The glyph file at `path`, or None when it is missing or damaged (English stays)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return GlyphFont(data)
    except (OSError, ValueError):
        return None


def _plain(d, s, cols, x, y):
    """`s` in the built-in 8x8 font if it is printable ASCII (else nothing: never garbage)."""
    for ch in s:
        if not " " <= ch <= "~":
            return
    d.text(s if len(s) <= cols else s[:cols], x, y)


def _centred(d, font, s, y):
    """`s` centred in glyph row `y`; False (nothing drawn) when it does not fit."""
    w = font.width(s)
    if w < 0 or w > d.width:
        return False
    font.draw(d, s, (d.width - w) // 2, y)
    return True


def _line(d, font, cols, s, y, translate):
    if not s:
        return
    z = reasons.zh(s) if translate else None
    if z is not None and _centred(d, font, z, y):
        return
    if len(s) > 2 and s[-2:] == " C" and "0" <= s[-3] <= "9":
        if _centred(d, font, s[:-2] + "\u00b0C", y):  # a temperature: 37.8°C
            return
    if _centred(d, font, s, y):
        return
    n = len(s) if len(s) < cols else cols
    _plain(d, s, cols, (d.width - 8 * n) // 2, y + 4)  # English, or nothing


def lines(d, font, cols, line1, line2, msg=None, extra=""):
    """Draw the indicator's two lines on framebuf display `d` (already cleared).

    font None: English in the built-in 8x8 font, rows 0 and 16 (24 on 64-px panels).
    With a glyph font: 16-px rows at 0/16 (8/40 on 64-px panels), centred. `msg` (what
    line1/line2 were wrapped from) is translated whole, `extra` (a temperature, a label) is
    drawn as is; without `msg` each line is translated on its own. A message whose Chinese
    has a glyph missing shows its English lines instead."""
    if font is None:
        _plain(d, line1, cols, 0, 0)
        _plain(d, line2, cols, 0, 16 if d.height <= 32 else 24)
        return
    y1 = 0 if d.height <= 32 else 8
    y2 = 16 if d.height <= 32 else 40
    if msg is None:
        _line(d, font, cols, line1, y1, True)
        _line(d, font, cols, line2, y2, True)
        return
    z = reasons.zh(msg)
    if z is not None and _centred(d, font, z, y1):
        _line(d, font, cols, extra, y2, False)
    else:  # no Chinese for it, or a glyph missing: the English lines
        _line(d, font, cols, line1, y1, False)
        _line(d, font, cols, line2, y2, False)
