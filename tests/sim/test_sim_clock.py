"""The simulators' clock: MicroPython tick semantics (checked against real MicroPython),
wrap-around, scheduling, virtual-time asyncio, and install/uninstall hygiene."""
from __future__ import annotations

import asyncio
import sys
import time
import time as _time_mod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass import sim
from gatepass.mp import compat as mpcompat
from gatepass.sim import clock as C

PERIOD = 1 << 30
ticks = st.integers(0, PERIOD - 1)
deltas = st.one_of(st.integers(-(PERIOD // 2) - 2, PERIOD // 2 + 2),
                   st.sampled_from([0, 1, -1, PERIOD // 2 - 1, -(PERIOD // 2) + 1,
                                    PERIOD // 2, -(PERIOD // 2)]))


def skip_64bit_ticks(mpy):
    if mpy.port == "unix":
        pytest.skip("the unix port is 64-bit (ticks period 2**62); the 32-bit wasm port has the ESP32's 2**30")


def as_result(fn, *args):
    try:
        return ("ok", fn(*args))
    except OverflowError as e:
        return ("err", "OverflowError", str(e))


@settings(max_examples=30)
@given(st.lists(st.tuples(ticks, deltas), min_size=1, max_size=60))
def test_ticks_add_matches_micropython(mpy, cases):
    skip_64bit_ticks(mpy)
    got = mpy.map("time", "ticks_add", cases)
    assert got == [as_result(C.ticks_add, t, d) for t, d in cases]


@settings(max_examples=30)
@given(st.lists(st.tuples(ticks, ticks), min_size=1, max_size=60))
def test_ticks_diff_matches_micropython(mpy, cases):
    skip_64bit_ticks(mpy)
    got = mpy.map("time", "ticks_diff", cases)
    assert got == [("ok", C.ticks_diff(a, b)) for a, b in cases]


@given(ticks, st.integers(-(PERIOD // 2) + 1, PERIOD // 2 - 1))
def test_ticks_add_diff_round_trip(t, d):
    assert C.ticks_diff(C.ticks_add(t, d), t) == d
    assert C.ticks_diff(t, C.ticks_add(t, d)) == -d


def test_wrap_around_edges():
    assert C.ticks_add(PERIOD - 1, 1) == 0
    assert C.ticks_diff(0, PERIOD - 1) == 1
    assert C.ticks_diff(PERIOD - 1, 0) == -1
    assert C.ticks_diff(PERIOD // 2, 0) == -(PERIOD // 2)  # the ambiguous half-way point
    with pytest.raises(OverflowError):
        C.ticks_add(0, PERIOD // 2)
    with pytest.raises(OverflowError):
        C.ticks_add(0, -(PERIOD // 2))


def test_virtual_clock_wraps_ms_and_us_independently():
    c = sim.VirtualClock(start_ticks_ms=PERIOD - 10)
    t0_ms, t0_us = c.ticks_ms(), c.ticks_us()
    assert t0_ms == PERIOD - 10
    c.advance(25)
    assert c.ticks_ms() == 15
    assert C.ticks_diff(c.ticks_ms(), t0_ms) == 25
    assert C.ticks_diff(c.ticks_us(), t0_us) == 25_000
    c.advance(PERIOD / 1000 + 7)  # ticks_us wraps every ~1074 s
    assert C.ticks_diff(c.ticks_us(), t0_us) == 7_000 + 25_000
    assert c.now_ms == pytest.approx(25 + PERIOD / 1000 + 7)


def test_sleep_advances_only_virtual_time():
    c = sim.VirtualClock()
    wall = _time_mod.monotonic()
    c.sleep_ms(3_600_000)
    c.sleep_us(5)
    c.sleep_ms(-3)
    assert c.now_us == 3_600_000_000 + 5
    assert _time_mod.monotonic() - wall < 1.0


def test_scheduled_callbacks_run_in_order_at_their_time():
    c = sim.VirtualClock()
    seen = []
    c.at(30, lambda: seen.append(("b", c.now_ms)))
    c.at(10, lambda: seen.append(("a", c.now_ms)))
    c.after(10, lambda: c.after(5, lambda: seen.append(("nested", c.now_ms))))
    c.advance(100)
    assert seen == [("a", 10.0), ("nested", 15.0), ("b", 30.0)]
    assert c.now_ms == 100
    with pytest.raises(ValueError):
        c.at(50, lambda: None)
    with pytest.raises(ValueError):
        c.advance(-1)


def test_asyncio_on_virtual_time():
    c = sim.VirtualClock()
    order = []

    async def worker(name, period, n):
        for _ in range(n):
            await asyncio.sleep(period)
            order.append((name, round(c.now_ms)))

    async def main():
        await asyncio.gather(worker("fast", 0.1, 3), worker("slow", 0.25, 2))

    wall = _time_mod.monotonic()
    c.run(main())
    assert order == [("fast", 100), ("fast", 200), ("slow", 250), ("fast", 300), ("slow", 500)]
    assert c.now_ms == 500  # concurrent sleeps do not add up
    assert _time_mod.monotonic() - wall < 1.0


def test_virtual_loop_reports_a_deadlock_instead_of_hanging():
    c = sim.VirtualClock()

    async def main():
        await asyncio.Event().wait()

    with pytest.raises(RuntimeError, match="wait forever"):
        c.run(main())


def test_run_timeout_is_virtual():
    c = sim.VirtualClock()

    async def forever():
        while True:
            await asyncio.sleep(1)

    with pytest.raises(asyncio.TimeoutError):
        c.run(forever(), timeout_ms=10_000)
    assert c.now_ms == pytest.approx(10_000, abs=1)


def test_install_swaps_and_restores_everything():
    before = {n: getattr(time, n) for n in ("ticks_ms", "sleep_ms", "ticks_diff")}
    had_machine = "machine" in sys.modules
    with sim.installed(clock=sim.VirtualClock(start_ticks_ms=1234)) as w:
        import machine

        assert machine is sys.modules["machine"]
        assert time.ticks_ms() == 1234
        time.sleep_ms(50)
        assert time.ticks_ms() == 1284 and w.clock.now_ms == 50
        assert mpcompat.ticks_ms() == 1284  # `from time import ticks_ms` users too
        with sim.installed(clock=sim.VirtualClock(start_ticks_ms=9)) as inner:
            assert time.ticks_ms() == 9 and sim.current_world() is inner
        assert time.ticks_ms() == 1284 and sim.current_world() is w
    assert {n: getattr(time, n) for n in before} == before
    assert ("machine" in sys.modules) == had_machine
    assert sim.current_world() is None
    t0 = mpcompat.ticks_ms()
    _time_mod.sleep(0.02)
    assert mpcompat.ticks_diff(mpcompat.ticks_ms(), t0) >= 15  # real time again


def test_uninstall_happens_even_when_the_test_body_fails():
    with pytest.raises(ZeroDivisionError):
        with sim.installed():
            1 / 0
    assert sim.current_world() is None


def test_real_clock_has_the_same_interface():
    c = sim.RealClock(start_ticks_ms=PERIOD - 5)
    t0 = c.ticks_ms()
    c.sleep_ms(20)
    assert 15 <= C.ticks_diff(c.ticks_ms(), t0) < 1000
