"""Green/red LEDs, an active buzzer and an optional SSD1306 text display.

    ind = Indicator(18, 19, buzzer=23, display=oled)   # oled: ssd1306.SSD1306_I2C or None
    ind.show(ALLOW, "36.6 C", "Welcome")
    asyncio.create_task(ind.run())        # or call ind.update() from your loop

Patterns are tables of (green, red, buzzer, ms) steps played once; then everything is off
and the display keeps the last text until `clear()`. Display lines are cut to fit
(128 px = 16 characters of the built-in 8x8 font).

Chinese: `set_lang("zh", font)` with the deploy-built glyph file (drivers/glyphs.py). A
catalog text (app/reasons.py: reason messages, fixed texts) then shows its Chinese in 16x16
glyphs, one 16-px row per line, centred; a temperature or any other text whose glyphs the
file holds (digits always) is drawn in the same font. A message whose Chinese lacks a glyph
shows its English, and a line that neither font can draw is left empty: never garbage.
"""
import time

from machine import Pin

from app.aio import sleep_ms
from drivers import glyphs as _glyphs

# the pattern numbers are app/codes.py's (the gate asks for them by these numbers)
from app.codes import SHOW_ALLOW as ALLOW
from app.codes import SHOW_BUSY as BUSY  # measuring / waiting: green blink, silent
from app.codes import SHOW_DENY as DENY
from app.codes import SHOW_FAULT as FAULT
from app.codes import SHOW_FEVER as FEVER

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
        self.lang = "en"
        self.font = None
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

    def set_lang(self, lang, font=None):
        """"zh" with a glyph font shows the catalog's Chinese; "en" (or no font): English."""
        self.lang = lang
        self.font = font

    def text(self, line1="", line2="", msg=None, extra=""):
        """Show two lines. `msg` and `extra`, when given, are what `line1`/`line2` were
        wrapped from: in Chinese the message is translated whole (drivers/glyphs.py)."""
        d = self._disp
        if d is None:
            return
        try:
            d.fill(0)
            _glyphs.lines(d, self.font if self.lang == "zh" else None, self._cols, line1, line2,
                          msg, extra)
            d.show()
        except OSError:
            self._disp = None  # display gone: LEDs and buzzer carry on

    def show(self, kind, line1=None, line2=None, msg=None, extra=""):
        """Start pattern `kind` (ALLOW, DENY, FEVER, FAULT, BUSY) and show the text, if any
        (`msg`/`extra`: see text())."""
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
            self.text(line1 or "", line2 or "", msg, extra or "")

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
