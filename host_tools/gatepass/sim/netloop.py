"""An asyncio loop on a VirtualClock that still does real socket I/O.

VirtualClock.loop() has no I/O at all: waiting means jumping the clock. Simulated gates
that talk to a real server need both: hours of simulated Wi-Fi outage in a second, and
real HTTP on loopback. The rule here:

- no socket waiting (only the loop's own wake-up pipe registered): time jumps straight
  to the next timer, exactly like VirtualClock.loop();
- a socket registered: wait for it in real time (slices of `slice_s`), and let virtual
  time advance by the real time waited times `dilation` (so a 10 s client timeout costs
  1 s of real time with dilation=10), never past the loop's next timer.

Firmware keeps sockets registered only during an exchange (the uplink closes its
connection when idle), so idle stretches still jump.
"""
from __future__ import annotations

import asyncio
import selectors
import time as _time

from .clock import VirtualClock, run_on


class _HybridSelector(selectors.BaseSelector):
    def __init__(self, clock: VirtualClock, dilation: float, slice_s: float):
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self.dilation = dilation
        self.slice_s = slice_s
        self.wake_fd: int | None = None
        self.real_waited = 0.0

    def register(self, fileobj, events, data=None):
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._real.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj):
        return self._real.get_key(fileobj)

    def get_map(self):
        return self._real.get_map()

    def close(self):
        self._real.close()

    def _io(self) -> bool:
        for key in self._real.get_map().values():
            if key.fd != self.wake_fd:
                return True
        return False

    def select(self, timeout=None):
        clk = self._clock
        if timeout is not None and timeout <= 0:
            return self._real.select(0)
        if not self._io():
            ev = self._real.select(0)
            if ev:
                return ev
            if timeout is None:
                nxt = clk.next_timer_us()
                if nxt is None:
                    # only another thread can wake us (call_soon_threadsafe)
                    return self._real.select(self.slice_s)
                clk.advance_us(max(0, nxt - clk.now_us))
            else:
                clk.advance_us(max(1, round(timeout * 1_000_000)))
            return []
        real = self.slice_s
        if timeout is not None and timeout / self.dilation < real:
            real = timeout / self.dilation
        t0 = _time.monotonic()
        ev = self._real.select(real)
        waited = _time.monotonic() - t0
        self.real_waited += waited
        adv = waited * self.dilation
        if timeout is not None and adv > timeout:
            adv = timeout
        clk.advance_us(max(1, round(adv * 1_000_000)))
        return ev


class HybridLoop(asyncio.SelectorEventLoop):
    """Event loop: time() is the VirtualClock's; sockets are real (see module doc)."""

    def __init__(self, clock: VirtualClock, dilation: float = 1.0, slice_s: float = 0.02):
        self._vclock = clock
        sel = _HybridSelector(clock, dilation, slice_s)
        super().__init__(selector=sel)
        ssock = getattr(self, "_ssock", None)
        sel.wake_fd = ssock.fileno() if ssock is not None else None
        self.hybrid = sel

    def time(self) -> float:
        return self._vclock.now_us / 1_000_000


def run(clock: VirtualClock, coro, dilation: float = 1.0, timeout_ms: float | None = None):
    """Run `coro` on a HybridLoop over `clock` (optionally bounded in virtual ms)."""
    return run_on(HybridLoop(clock, dilation), coro, timeout_ms)


class NetClock(VirtualClock):
    """A VirtualClock whose loop() is a HybridLoop (for gatepass.sim.simgate.Site(clock=...))."""

    def __init__(self, dilation: float = 1.0, start_ticks_ms: int = 0):
        super().__init__(start_ticks_ms)
        self.dilation = dilation

    def loop(self) -> asyncio.AbstractEventLoop:
        return HybridLoop(self, self.dilation)
