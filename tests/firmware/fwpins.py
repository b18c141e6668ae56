"""A GPIO stand-in for driver tests that run on both runtimes (MicroPython-compatible).

The WebAssembly port has no `machine`: `drivers()` puts a minimal one in sys.modules
there (Pin constants of the ESP32 port only; the tests hand the drivers RecPin objects
through pin_factory). Under CPython the drivers are imported with gatepass.sim installed,
the same way the simulator tests import them, so nothing here leaks into other tests.
"""
import sys

import fwenv


class _Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2


class _Machine:
    Pin = _Pin


def drivers(*names):
    """Import drivers.<name> for each name; returns the modules in order."""
    out = []
    if fwenv.RUNTIME == "cpython":
        from gatepass import sim

        with sim.installed():
            for n in names:
                out.append(__import__("drivers." + n, None, None, [n]))
        return out
    if "machine" not in sys.modules:
        sys.modules["machine"] = _Machine
    for n in names:
        out.append(__import__("drivers." + n, None, None, [n]))
    return out


class RecPin:
    """One pad: `levels` lists every level written; `outside` is the level an external
    contact holds (None: the pull decides); `drive()` runs the IRQ handler like an edge.
    Writes go into a preallocated log, so the pin itself allocates nothing (tests lock
    the heap around interrupt paths)."""

    MAX_WRITES = 64

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        self.mode = mode
        self.pull = pull
        self.out = value
        self._log = [0] * self.MAX_WRITES
        self._n = 0
        if value is not None:
            self._log[0] = value
            self._n = 1
        self.outside = None
        self.handler = None
        self.trigger = 0
        self.hard = None

    def value(self, x=None):
        if x is None:
            if self.outside is not None:
                return self.outside
            if self.out is not None:
                return self.out
            return 1 if self.pull == _Pin.PULL_UP else 0
        self.out = x
        self._log[self._n] = x  # IndexError past MAX_WRITES: a test writing in a loop
        self._n += 1
        return None

    @property
    def levels(self):
        return self._log[:self._n]

    def irq(self, handler=None, trigger=3, hard=False):
        self.handler = handler
        self.trigger = trigger
        self.hard = hard

    def drive(self, level):
        """The outside world moves the wire: the handler runs when the level changed."""
        old = self.value()
        self.outside = level
        if self.handler is not None and level != old:
            self.handler(self)


class Factory:
    """pin_factory for drivers: remembers the RecPin made for each GPIO."""

    def __init__(self, outside=None):
        self.pins = {}
        self.outside = outside or {}  # gpio -> level held from outside at construction

    def __call__(self, n, mode=-1, pull=-1, value=None):
        p = RecPin(n, mode, pull, value)
        p.outside = self.outside.get(n)
        self.pins[n] = p
        return p
