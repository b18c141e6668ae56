"""A stand-in for micropython-lib's `ssd1306.SSD1306_I2C` that keeps text instead of pixels."""
from __future__ import annotations


class FakeSSD1306:
    """Same methods the firmware uses: fill, text, show, poweron/off, contrast, invert.

    `frames` holds one list of (x, y, text) per `show()`; `lines()` the rows of the last frame.
    """

    def __init__(self, width: int = 128, height: int = 32, i2c=None, addr: int = 0x3C,
                 external_vcc: bool = False):
        self.width = width
        self.height = height
        self.i2c = i2c
        self.addr = addr
        self._draft: list[tuple[int, int, str]] = []
        self.frames: list[list[tuple[int, int, str]]] = []
        self.powered = True
        self.contrast_level = 255
        self.inverted = False
        if i2c is not None and addr not in i2c.scan():
            raise OSError(19, "ENODEV")  # the real driver's first write would fail

    def fill(self, c: int) -> None:
        if c == 0:
            self._draft = []

    def text(self, s: str, x: int, y: int, c: int = 1) -> None:
        if x + 8 * len(s) > self.width + 7:
            raise AssertionError(f"text {s!r} runs off a {self.width}-px display")
        if y + 8 > self.height:
            raise AssertionError(f"text row y={y} below a {self.height}-px display")
        self._draft.append((x, y, s))

    def show(self) -> None:
        self.frames.append(list(self._draft))

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

    # drawing calls the firmware may use; pixels are not modelled
    def pixel(self, *a):
        return 0

    def hline(self, *a) -> None:
        pass

    def rect(self, *a) -> None:
        pass

    def fill_rect(self, *a) -> None:
        pass


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
