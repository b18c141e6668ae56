"""A GPIO pad that records every level change on the wire with simulation time."""
from __future__ import annotations

from typing import Callable

# what the pad is doing
HIZ = "hiz"  # reset state: input, no pull (or the chip's reset pull)
INPUT = "in"
OUTPUT = "out"
OPEN_DRAIN = "od"


class SimPin:
    """One pad. The firmware side drives it through `machine.Pin`; the test side through
    `drive(level)` (an external contact/sensor) and reads `history`.

    `history` is a list of (t_ms, level) where level is 0, 1 or None (floating), appended
    whenever the level seen on the wire changes. `outputs` lists only the levels the MCU
    drove, with time: the record to check "the relay never went active before unlock".
    """

    def __init__(self, gpio: int, clock):
        self.gpio = gpio
        self._clock = clock
        self.mode = HIZ
        self.pull: int | None = None  # 1 pull-up, 0 pull-down, None none
        self.latch = 0  # output register: survives mode changes like on the ESP32
        self.external: int | None = None  # level forced by the outside world
        self.history: list[tuple[float, int | None]] = [(clock.now_ms, None)]
        self.outputs: list[tuple[float, int]] = []
        self.irq_handler: Callable | None = None
        self.irq_trigger = 0
        self.function: str | None = None  # "gpio", "i2c0.scl", "uart2.tx", ...

    # -- what the wire shows ----------------------------------------------------------
    @property
    def level(self) -> int | None:
        if self.mode == OUTPUT:
            return self.latch
        if self.mode == OPEN_DRAIN:
            if self.latch == 0:
                return 0
        if self.external is not None:
            return self.external
        return self.pull

    def _record(self) -> None:
        lv = self.level
        if self.history[-1][1] != lv:
            self.history.append((self._clock.now_ms, lv))
            if self.irq_handler is not None and lv is not None:
                prev = self.history[-2][1]
                rising, falling = 1, 2  # ESP32 Pin.IRQ_RISING / IRQ_FALLING
                if (prev == 0 and lv == 1 and self.irq_trigger & rising) or (
                        prev == 1 and lv == 0 and self.irq_trigger & falling):
                    self.irq_handler(self)

    # -- firmware side ----------------------------------------------------------------
    def configure(self, mode: str, pull: int | None, value: int | None) -> None:
        # the ESP32 port sets the output level before enabling the driver, so
        # Pin(n, Pin.OUT, value=v) never shows the previous latch value on the wire
        if value is not None:
            self.latch = 1 if value else 0
        self.mode = mode
        self.pull = pull
        if mode in (OUTPUT, OPEN_DRAIN):
            self.outputs.append((self._clock.now_ms, self.latch))
        self._record()

    def write(self, value: int) -> None:
        v = 1 if value else 0
        changed = v != self.latch
        self.latch = v
        if self.mode in (OUTPUT, OPEN_DRAIN) and (changed or not self.outputs):
            self.outputs.append((self._clock.now_ms, v))
        self._record()

    def read(self) -> int:
        lv = self.level
        return 0 if lv is None else lv

    def reset(self) -> None:
        """Hardware reset: the pad returns to high impedance (level floats)."""
        self.mode = HIZ
        self.pull = None
        self.latch = 0
        self.irq_handler = None
        self.function = None
        self._record()

    # -- test side --------------------------------------------------------------------
    def drive(self, level: int | None) -> None:
        """Force the wire from outside (a door contact closing, a button), None to release."""
        self.external = None if level is None else (1 if level else 0)
        self._record()

    def level_at(self, t_ms: float) -> int | None:
        lv = None
        for t, v in self.history:
            if t > t_ms:
                break
            lv = v
        return lv

    def intervals(self, level: int) -> list[tuple[float, float | None]]:
        """[(start_ms, end_ms or None)] during which the wire showed `level`."""
        out: list[tuple[float, float | None]] = []
        start = None
        for t, v in self.history:
            if v == level and start is None:
                start = t
            elif v != level and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, None))
        return out

    def __repr__(self) -> str:
        return f"<SimPin GPIO{self.gpio} {self.mode} level={self.level}>"
