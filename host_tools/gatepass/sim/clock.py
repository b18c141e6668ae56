"""Clocks for the simulators: MicroPython `time.ticks_*` semantics on a virtual or real timebase.

`VirtualClock` is the one tests use: time only moves when something sleeps (the firmware's
`time.sleep_ms`, an asyncio sleep on `VirtualClock.loop()`, or the test calling `advance`), so
a test of a 30 s held-open alarm runs in microseconds and is exactly repeatable. Ticks wrap at
`TICKS_PERIOD` (2**30) exactly as on the ESP32 port, and `start_ticks_ms` lets a test begin just
before the wrap.

`RealClock` gives the same interface on the host's monotonic clock, for interactive demos.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
import time as _time
from typing import Callable

# tick arithmetic: gatepass.mp.compat, the one host implementation (2**30 as on the ESP32)
from ..mp.compat import _HALF, TICKS_MAX, TICKS_PERIOD, _small_int, ticks_add, ticks_diff  # noqa: E402,F401


class _BaseClock:
    """Common ticks interface; subclasses provide `now_us` and `sleep_us`."""

    start_ticks_ms = 0

    @property
    def now_us(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def now_ms(self) -> float:
        """Monotonic simulation time in ms since the clock started (float, never wraps)."""
        return self.now_us / 1000

    def ticks_ms(self) -> int:
        return (self.now_us // 1000 + self.start_ticks_ms) & TICKS_MAX

    def ticks_us(self) -> int:
        return (self.now_us + self.start_ticks_ms * 1000) & TICKS_MAX

    def ticks_cpu(self) -> int:
        return self.ticks_us()

    ticks_add = staticmethod(ticks_add)
    ticks_diff = staticmethod(ticks_diff)

    def sleep_us(self, us: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def sleep_ms(self, ms: int) -> None:
        if ms > 0:
            self.sleep_us(int(ms) * 1000)

    def sleep(self, s: float) -> None:
        if s > 0:
            self.sleep_us(int(round(s * 1_000_000)))


class VirtualClock(_BaseClock):
    """Simulation time that advances only when slept/advanced; runs scheduled callbacks in order.

    - `advance(ms)` / `advance_us(us)`: move time, firing `at`/`after` callbacks at their time.
    - `at(t_ms, fn)`, `after(ms, fn)`: schedule `fn()` (e.g. "person steps in at 1.2 s").
    - `on_advance`: hooks called as `hook(now_us)` after every step (the WDT model uses it).
    - `loop()` / `run(coro)`: an asyncio event loop whose time is this clock.
    """

    def __init__(self, start_ticks_ms: int = 0):
        self.start_ticks_ms = int(start_ticks_ms) & TICKS_MAX
        self._us = 0
        self._timers: list[tuple[int, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self.on_advance: list[Callable[[int], object]] = []

    @property
    def now_us(self) -> int:
        return self._us

    def at(self, t_ms: float, fn: Callable[[], object]) -> None:
        t_us = int(round(t_ms * 1000))
        if t_us < self._us:
            raise ValueError("cannot schedule in the past")
        heapq.heappush(self._timers, (t_us, next(self._seq), fn))

    def after(self, ms: float, fn: Callable[[], object]) -> None:
        self.at(self.now_ms + ms, fn)

    def advance_us(self, us: int) -> None:
        if us < 0:
            raise ValueError("time does not go backwards")
        target = self._us + int(us)
        while self._timers and self._timers[0][0] <= target:
            t_us, _, fn = heapq.heappop(self._timers)
            self._step_to(t_us)
            fn()
        self._step_to(target)

    def _step_to(self, t_us: int) -> None:
        if t_us > self._us:
            self._us = t_us
        for hook in list(self.on_advance):
            hook(self._us)

    def advance(self, ms: float) -> None:
        self.advance_us(int(round(ms * 1000)))

    def sleep_us(self, us: int) -> None:
        if us > 0:
            self.advance_us(us)

    def next_timer_us(self) -> int | None:
        return self._timers[0][0] if self._timers else None

    # -- asyncio on virtual time ---------------------------------------------------------
    def loop(self) -> asyncio.AbstractEventLoop:
        """A fresh event loop whose `time()` is this clock; idle waits advance the clock."""
        return _VirtualTimeLoop(self)

    def run(self, coro, timeout_ms: float | None = None):
        """Run `coro` to completion on virtual time (optionally bounded in virtual ms)."""
        return run_on(self.loop(), coro, timeout_ms)


def run_on(loop: asyncio.AbstractEventLoop, coro, timeout_ms: float | None = None):
    """Run `coro` to completion on `loop` (optionally bounded in ms of the loop's time), then
    cancel the tasks it left behind and close the loop."""
    try:
        if timeout_ms is not None:
            coro = asyncio.wait_for(coro, timeout_ms / 1000)
        return loop.run_until_complete(coro)
    finally:
        try:
            cancel_all(loop)
        finally:
            loop.close()


def cancel_all(loop: asyncio.AbstractEventLoop, tasks=None, rounds: int = 60) -> list:
    """Cancel `tasks` (default: every task of the loop), run the loop until they end,
    and return those that would not.

    A task can come back from its cancel: CPython 3.11's asyncio.wait_for loses a cancel
    that lands in the same loop turn as the awaited operation finishing (gh-86296, fixed
    in 3.12), and the firmware wraps every HTTP exchange in wait_for. So the cancel is
    repeated once per (virtual) second; a task still running after `rounds` of them
    ignores cancellation outright, which the caller should name rather than hang on.
    MicroPython's wait_for, and a reset on the chip, lose nothing."""
    tasks = [t for t in (asyncio.all_tasks(loop) if tasks is None else tasks) if not t.done()]
    for _ in range(rounds):
        if not tasks:
            break
        for t in tasks:
            t.cancel()
        try:
            loop.run_until_complete(asyncio.wait(tasks, timeout=1))
        except BaseException:  # noqa: BLE001 - a simulated reset raised through the loop
            pass
        tasks = [t for t in tasks if not t.done()]
    return tasks


class _VirtualSelector(selectors.BaseSelector):
    """A selector with no real I/O: waiting `timeout` seconds means advancing the clock."""

    def __init__(self, clock: VirtualClock):
        self._clock = clock
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj, events, data=None):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout=None):
        if timeout is None:
            nxt = self._clock.next_timer_us()
            if nxt is None:
                raise RuntimeError(
                    "virtual time: event loop would wait forever (no timers, no ready tasks)")
            self._clock.advance_us(nxt - self._clock.now_us)
        elif timeout > 0:
            # round, not ceil: float error must not add a microsecond per sleep; a timer
            # left a hair short gets a 1 us follow-up select
            self._clock.advance_us(max(1, round(timeout * 1_000_000)))
        return []

    def close(self):
        self._keys.clear()

    def get_map(self):
        return self._keys


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock):
        self._vclock = clock
        super().__init__(selector=_VirtualSelector(clock))

    def time(self) -> float:
        return self._vclock.now_us / 1_000_000


class RealClock(_BaseClock):
    """Host monotonic time with MicroPython tick semantics (no scheduling)."""

    def __init__(self, start_ticks_ms: int = 0):
        self.start_ticks_ms = int(start_ticks_ms) & TICKS_MAX
        self._t0 = _time.monotonic_ns()

    @property
    def now_us(self) -> int:
        return (_time.monotonic_ns() - self._t0) // 1000

    def sleep_us(self, us: int) -> None:
        if us > 0:
            _time.sleep(us / 1_000_000)


_current: _BaseClock | None = None
_default: RealClock | None = None


def current() -> _BaseClock:
    """The clock installed by `gatepass.sim.install`, else a shared RealClock."""
    global _default
    if _current is not None:
        return _current
    if _default is None:
        _default = RealClock()
    return _default


def _set_current(clock: _BaseClock | None) -> None:
    global _current
    _current = clock
