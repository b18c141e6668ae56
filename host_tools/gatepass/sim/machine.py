"""CPython stand-in for MicroPython's `machine` module (ESP32 port signatures and constants),
backed by the current simulated World. `gatepass.sim.install()` puts it in
sys.modules["machine"]; firmware drivers import it unchanged.
"""
from __future__ import annotations

from . import world as _w
from .pins import INPUT, OPEN_DRAIN, OUTPUT

PWRON_RESET = _w.PWRON_RESET
HARD_RESET = _w.HARD_RESET
WDT_RESET = _w.WDT_RESET
DEEPSLEEP_RESET = _w.DEEPSLEEP_RESET
SOFT_RESET = _w.SOFT_RESET

_world: "_w.World | None" = None


def _cur() -> "_w.World":
    if _world is None:
        raise RuntimeError("no simulated board: call gatepass.sim.install() first")
    return _world


def _gpio(p) -> int:
    return p.id() if isinstance(p, Pin) else p


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self._gpio = _gpio(id)
        self._pad = _cur().pin(self._gpio)
        self.init(mode, pull, value=value, drive=drive, hold=hold)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        pad = self._pad
        newmode = {self.IN: INPUT, self.OUT: OUTPUT, self.OPEN_DRAIN: OPEN_DRAIN}.get(
            mode, pad.mode if mode == -1 else None)
        if newmode is None:
            raise ValueError("invalid pin mode")
        output = newmode in (OUTPUT, OPEN_DRAIN)
        if mode != -1 or value is not None:
            _cur().claim(self._gpio, "gpio", output)
        if pull == -1:
            newpull = pad.pull
        elif pull is None:
            newpull = None
        elif pull == self.PULL_UP:
            newpull = 1
        elif pull == self.PULL_DOWN:
            newpull = 0
        else:
            raise ValueError("invalid pull")
        if newpull is not None and self._gpio in _cur().facts["input_only"]:
            _cur().warnings.append(f"GPIO{self._gpio} has no internal pull: pin floats")
            newpull = None
        pad.configure(newmode, newpull, value)

    def id(self) -> int:
        return self._gpio

    def value(self, x=None):
        if x is None:
            return self._pad.read()
        self._pad.write(x)
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self) -> None:
        self._pad.write(1)

    def off(self) -> None:
        self._pad.write(0)

    def irq(self, handler=None, trigger=3, *, wake=None, hard=False):
        self._pad.irq_handler = (lambda pad: handler(self)) if handler else None
        self._pad.irq_trigger = trigger
        return None

    def __repr__(self) -> str:
        return f"Pin({self._gpio})"


class Signal:
    """machine.Signal(pin_obj, invert=False) or Signal(id, mode, pull, ..., invert=False)."""

    def __init__(self, pin, *args, invert=False, **kw):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, *args, **kw)
        self._invert = bool(invert)

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if x else 0) ^ self._invert)
        return None

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)


class I2C:
    """machine.I2C(id, *, scl, sda, freq=400000, timeout=50000) on the simulated bus `id`."""

    def __init__(self, id=0, *, scl=None, sda=None, freq=400_000, timeout=50_000):
        w = _cur()
        if id not in w.facts["i2cs"]:
            raise ValueError(f"I2C({id}) doesn't exist")
        self._bus = w.i2c(id)
        self._pins = []
        for role, p in (("scl", scl), ("sda", sda)):
            if p is not None:
                pad = w.claim(_gpio(p), f"i2c{id}.{role}", True)
                pad.configure(OPEN_DRAIN, 1, 1)  # pulled-up open-drain, idle high
                self._pins.append(pad)
        self.init(freq=freq)
        self.timeout = timeout

    def init(self, *, freq=400_000, **_):
        if not 1 <= freq <= 5_000_000:
            raise ValueError("bad freq")
        self._bus.freq = freq

    def __getattr__(self, name):
        # scan, readfrom_mem(_into), writeto_mem, readfrom(_into), writeto, writevto
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._bus, name)


class SoftI2C(I2C):
    def __init__(self, scl, sda, *, freq=400_000, timeout=50_000):
        w = _cur()
        key = ("soft", _gpio(scl), _gpio(sda))
        self._bus = w.i2c(key)
        self._pins = []
        for role, p in (("scl", scl), ("sda", sda)):
            pad = w.claim(_gpio(p), f"softi2c.{role}", True)
            pad.configure(OPEN_DRAIN, 1, 1)
            self._pins.append(pad)
        self.init(freq=freq)
        self.timeout = timeout


class UART:
    """machine.UART(id, baudrate=115200, bits=8, parity=None, stop=1, *, tx, rx, rxbuf, timeout,
    timeout_char, ...) on the simulated link `id` (UART0 is the REPL on a real board)."""

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, *, tx=None, rx=None,
                 rts=None, cts=None, txbuf=None, rxbuf=None, timeout=None, timeout_char=None,
                 invert=None, flow=None):
        w = _cur()
        if id not in (0, 1, 2):
            raise ValueError(f"UART({id}) doesn't exist")
        self._port = w.uart(id)
        if tx is not None:
            w.claim(_gpio(tx), f"uart{id}.tx", True).configure(OUTPUT, None, 1)
        if rx is not None:
            w.claim(_gpio(rx), f"uart{id}.rx", False).configure(INPUT, 1, None)
        self._port.init(baudrate, bits, parity, stop, rxbuf=rxbuf, timeout=timeout or 0,
                        timeout_char=timeout_char or 0)

    def init(self, baudrate=None, bits=8, parity=None, stop=1, **kw):
        self._port.init(baudrate, bits, parity, stop, **kw)

    def __getattr__(self, name):
        # any, read, readinto, readline, write, flush, txdone, deinit, sendbreak
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._port, name)


class WDT:
    """machine.WDT(id=0, timeout=5000): cannot be stopped; a missed feed resets the board
    (raises SimReset(WDT_RESET) from the clock when the deadline passes)."""

    def __init__(self, id=0, timeout=5000):
        w = _cur()
        if timeout < 1:
            raise ValueError("WDT timeout too short")
        self.timeout = int(timeout)
        self._world = w
        self.deadline_us = w.clock.now_us + self.timeout * 1000
        w.wdt = self
        if hasattr(w.clock, "on_advance") and self._check not in w.clock.on_advance:
            w.clock.on_advance.append(self._check)

    def feed(self) -> None:
        self.deadline_us = self._world.clock.now_us + self.timeout * 1000

    def _check(self, now_us: int) -> None:
        if self._world.wdt is not self:
            if self._check in self._world.clock.on_advance:
                self._world.clock.on_advance.remove(self._check)
            return
        if now_us > self.deadline_us:
            self._world.reset(WDT_RESET)
            raise _w.SimReset(WDT_RESET)


class Timer:
    """machine.Timer(id): init(mode=Timer.PERIODIC|ONE_SHOT, period=ms, callback=fn) on the
    simulation clock (virtual clocks only); callbacks get the timer like soft IRQs do."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=0, **kw):
        self._world = _cur()
        self._gen = 0
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None):
        clock = self._world.clock
        if not hasattr(clock, "after"):
            raise RuntimeError("machine.Timer needs a VirtualClock in the simulator")
        if freq > 0:
            period = 1000 / freq
        if period <= 0:
            raise ValueError("period must be > 0")
        self._gen += 1
        gen = self._gen

        def fire():
            if gen != self._gen:
                return  # re-initialised or deinit() since
            if mode == self.PERIODIC:
                clock.after(period, fire)
            if callback is not None:
                callback(self)
        clock.after(period, fire)

    def deinit(self) -> None:
        self._gen += 1


class RTC:
    def __init__(self, id=0):
        self._world = _cur()

    def memory(self, data=None):
        if data is None:
            return bytes(getattr(self._world, "rtc_memory", b""))
        self._world.rtc_memory = bytes(data)
        return None

    def datetime(self, dt=None):
        if dt is None:
            return getattr(self._world, "rtc_datetime", (2000, 1, 1, 5, 0, 0, 0, 0))
        self._world.rtc_datetime = tuple(dt)
        return None


def reset_cause() -> int:
    return _cur().reset_cause


def reset():
    _cur().reset(HARD_RESET)
    raise _w.SimReset(HARD_RESET)


def soft_reset():
    _cur().reset(SOFT_RESET)
    raise _w.SimReset(SOFT_RESET)


def freq(hz=None):
    if hz is None:
        return 160_000_000
    return None


def unique_id() -> bytes:
    return b"\x24\x0a\xc4\x00\x11\x22"


def idle() -> None:
    pass


def disable_irq() -> int:
    return 0


def enable_irq(state=0) -> None:
    pass
