# The `sim` package's clock on MicroPython: real time, the interface of
# gatepass.sim.clock.RealClock (the bus models read now_us/now_ms and sleep_us).
import time

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1


def ticks_add(t, d):
    return time.ticks_add(t, d)


def ticks_diff(a, b):
    return time.ticks_diff(a, b)


class RealClock:
    def __init__(self):
        self._t0 = time.ticks_us()
        self.on_advance = []  # hooks hook(now_us), run by poll() (the WDT model)

    @property
    def now_us(self):
        return time.ticks_diff(time.ticks_us(), self._t0)

    @property
    def now_ms(self):
        return self.now_us / 1000

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_us(self):
        return time.ticks_us()

    def sleep_us(self, us):
        time.sleep_us(int(us))

    def sleep_ms(self, ms):
        time.sleep_ms(int(ms))

    def poll(self):
        now = self.now_us
        for h in list(self.on_advance):
            h(now)


_current = None


def current():
    global _current
    if _current is None:
        _current = RealClock()
    return _current


def _set_current(c):
    global _current
    _current = c
