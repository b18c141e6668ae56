"""Green/red LEDs, an active buzzer and an optional SSD1306 text display.

    ind = Indicator(18, 19, buzzer=23, display=oled)   # oled: ssd1306.SSD1306_I2C or None
    ind.show(ALLOW, "36.6 C", "Welcome")
    asyncio.create_task(ind.run())        # or call ind.update() from your loop

Patterns are tables of (green, red, buzzer, ms) steps played once; then everything is off
and the display keeps the last text until `clear()`. Display lines are cut to fit
(128 px = 16 characters of the built-in 8x8 font).
"""
import time

from machine import Pin
from micropython import const

from app.aio import sleep_ms

ALLOW = const(1)
DENY = const(2)
FEVER = const(3)
FAULT = const(4)
BUSY = const(5)  # measuring / waiting: green blink, silent

# (green, red, buzz, ms)
PATTERNS = {
    ALLOW: ((1, 0, 1, 120), (1, 0, 0, 1380)),
    DENY: ((0, 1, 1, 150), (0, 1, 0, 100), (0, 1, 1, 150), (0, 1, 0, 1100)),
    FEVER: ((0, 1, 1, 500), (0, 0, 0, 250)) * 4 + ((0, 1, 1, 1000),),
    FAULT: ((0, 1, 0, 250), (0, 0, 0, 750)) * 3,
    BUSY: ((1, 0, 0, 100), (0, 0, 0, 200)) * 2,
}


class Indicator:
    def __init__(self, green, red, buzzer=None, display=None, active_high=True,
                 pin_factory=None):
        mk = pin_factory if pin_factory is not None else Pin
        self._off = 0 if active_high else 1
        self._g = mk(green, Pin.OUT, value=self._off)
        self._r = mk(red, Pin.OUT, value=self._off)
        self._b = mk(buzzer, Pin.OUT, value=self._off) if buzzer is not None else None
        self._disp = display
        self._cols = (display.width // 8) if display is not None else 16
        self._steps = ()
        self._i = 0
        self._t = time.ticks_ms()
        self.kind = 0

    def _set(self, g, r, z):
        off = self._off
        self._g.value(g ^ off)
        self._r.value(r ^ off)
        if self._b is not None:
            self._b.value(z ^ off)

    def fit(self, s):
        """`s` cut to the display width."""
        return s if len(s) <= self._cols else s[:self._cols]

    def text(self, line1="", line2=""):
        d = self._disp
        if d is None:
            return
        try:
            d.fill(0)
            d.text(self.fit(line1), 0, 0)
            d.text(self.fit(line2), 0, 16 if d.height <= 32 else 24)
            d.show()
        except OSError:
            self._disp = None  # display gone: LEDs and buzzer carry on

    def show(self, kind, line1=None, line2=None):
        """Start pattern `kind` (ALLOW, DENY, FEVER, FAULT, BUSY) and show the text, if any."""
        steps = PATTERNS.get(kind)
        if steps is None:
            raise ValueError("unknown pattern")
        self.kind = kind
        self._steps = steps
        self._i = 0
        self._t = time.ticks_ms()
        g, r, z, _ = steps[0]
        self._set(g, r, z)
        if line1 is not None or line2 is not None:
            self.text(line1 or "", line2 or "")

    @property
    def busy(self):
        return self._i < len(self._steps)

    def update(self):
        """Advance the pattern; returns True while it is still playing."""
        steps = self._steps
        now = time.ticks_ms()
        while self._i < len(steps):
            dur = steps[self._i][3]
            if time.ticks_diff(now, self._t) < dur:
                return True
            self._t = time.ticks_add(self._t, dur)
            self._i += 1
            if self._i < len(steps):
                g, r, z, _ = steps[self._i]
                self._set(g, r, z)
            else:
                self._set(0, 0, 0)
                self.kind = 0
        return False

    def off(self):
        self._steps = ()
        self._i = 0
        self.kind = 0
        self._set(0, 0, 0)

    def clear(self):
        self.off()
        self.text("", "")

    async def run(self, poll_ms=10):
        while True:
            self.update()
            await sleep_ms(poll_ms)
