"""Relay driver: never active before an unlock (every board profile, boot and resets),
exact unlock durations on the pin record, restartable timer, safe(), ticks wrap-around."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass import sim

PROFILES = sim.profile_names()


def unlock_seen(pin, level, before_ms=None):
    """Every moment the wire showed the unlock level (optionally only before a time)."""
    return [(t, v) for t, v in pin.history
            if v == level and (before_ms is None or t < before_ms)]


def test_there_are_profiles():
    assert len(PROFILES) >= 2
    assert {"esp32-devkitc", "esp32-s3"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_no_unlock_level_at_boot_for_every_profile(name):
    rig = sim.Rig.from_profile(name)
    with rig.installed():
        dev = rig.build()
        level = rig.relay_unlock_level()
        pin = rig.relay_pin
        assert dev.relay.locked
        assert dev.relay.unlock_level == level
        # the wire went from floating straight to the locked level, nothing in between
        assert [v for _, v in pin.history] == [None, 1 - level]
        assert pin.outputs == [(0.0, 1 - level)]
        # everything else the build did (sensor probe, scanner setup) never touched it
        rig.clock.advance(5000)
        assert unlock_seen(pin, level) == []
        t_unlock = rig.clock.now_ms
        dev.relay.unlock()
        assert unlock_seen(pin, level) == [(t_unlock, level)]
        assert unlock_seen(pin, level, before_ms=t_unlock) == []


@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("cause", [sim.SOFT_RESET, sim.HARD_RESET, sim.WDT_RESET])
def test_reset_and_rebuild_never_pulses(name, cause):
    rig = sim.Rig.from_profile(name)
    with rig.installed():
        dev = rig.build()
        level = rig.relay_unlock_level()
        rig.clock.advance(100)
        dev.relay.unlock(5000)
        rig.clock.advance(1000)
        t_reset = rig.clock.now_ms
        rig.world.reset(cause)  # mid-unlock: the worst moment
        rig.clock.advance(300)  # boot time
        dev2 = rig.build()
        assert dev2.relay.locked
        after = [(t, v) for t, v in rig.relay_pin.history if t >= t_reset]
        if cause == sim.SOFT_RESET:
            # MicroPython restarts but the GPIO keeps its level until the relay is rebuilt:
            # the rebuild must go straight to locked
            assert after == [(t_reset + 300, 1 - level)]
        else:
            # pads float during reset, then the relay drives the locked level
            assert after == [(t_reset, None), (t_reset + 300, 1 - level)]
        assert [v for _, v in rig.relay_pin.outputs if _ > t_reset] == [1 - level]


def test_the_check_can_fail_a_naive_driver():
    """Pin(n, OUT) then value(locked) glitches an active-low relay: the pin record shows it."""
    with sim.installed(clock=sim.VirtualClock()) as world:
        import machine

        p = machine.Pin(4, machine.Pin.OUT)  # latch resets to 0 = energised if active-low
        p.value(1)
        assert unlock_seen(world.pin(4), 0) == [(0.0, 0)]


@pytest.mark.parametrize("lock,active_high,unlock_level", [
    ("strike", True, 1), ("strike", False, 0), ("maglock", True, 0), ("maglock", False, 1)])
def test_unlock_means_the_right_level(lock, active_high, unlock_level):
    with sim.installed(clock=sim.VirtualClock()) as world:
        from drivers.relay import Relay

        r = Relay(26, lock, active_high, pulse_ms=2000)
        pin = world.pin(26)
        assert pin.level == 1 - unlock_level
        r.unlock()
        assert pin.level == unlock_level and not r.locked
        r.lock()
        assert pin.level == 1 - unlock_level and r.locked


def run_relay(world, relay, script, total_ms):
    """Run relay.run() on virtual time while `script` (list of (t_ms, fn)) happens."""
    async def main():
        task = asyncio.ensure_future(relay.run())
        t0 = world.clock.now_ms
        for t, fn in script:
            await asyncio.sleep((t0 + t - world.clock.now_ms) / 1000)
            fn()
        await asyncio.sleep((t0 + total_ms - world.clock.now_ms) / 1000)
        task.cancel()
    world.clock.run(main())


@pytest.mark.parametrize("ms", [1000, 3000, 4321, 10000])
def test_exact_unlock_duration(ms):
    with sim.installed(clock=sim.VirtualClock()) as world:
        from drivers.relay import Relay

        r = Relay(26, "strike", True, pulse_ms=ms)
        run_relay(world, r, [(250, r.unlock)], ms + 2000)
        assert world.pin(26).intervals(1) == [(250.0, 250.0 + ms)]


def test_unlock_restarts_the_timer():
    with sim.installed(clock=sim.VirtualClock()) as world:
        from drivers.relay import Relay

        r = Relay(26, "strike", True, pulse_ms=3000)
        run_relay(world, r, [(100, r.unlock), (2100, r.unlock)], 8000)
        # one continuous unlock, ending 3 s after the second call; no re-lock in between
        assert world.pin(26).intervals(1) == [(100.0, 5100.0)]
        run_relay(world, r, [(0, lambda: r.unlock(3000)), (1000, lambda: r.unlock(500))], 5000)
        start = 8000.0
        assert world.pin(26).intervals(1)[-1] == (start, start + 1500)  # restart shortens too


def test_unlock_across_the_ticks_wrap():
    start = (1 << 30) - 1200  # ticks_ms wraps 1.2 s after boot
    with sim.installed(clock=sim.VirtualClock(start_ticks_ms=start)) as world:
        import time

        from drivers.relay import Relay

        r = Relay(26, "strike", True, pulse_ms=3000)
        run_relay(world, r, [(0, r.unlock)], 5000)
        assert world.pin(26).intervals(1) == [(0.0, 3000.0)]
        assert time.ticks_ms() < 5000  # the clock really wrapped


def test_update_without_asyncio():
    with sim.installed(clock=sim.VirtualClock()) as world:
        from drivers.relay import Relay

        r = Relay(26, "strike", True, pulse_ms=1500)
        r.unlock()
        world.clock.advance(1499)
        assert r.update() is False and not r.locked and r.remaining_ms() == 1
        world.clock.advance(1)
        assert r.update() is True and r.locked and r.remaining_ms() == 0
        assert r.update() is False


def test_safe_always_locks():
    with sim.installed(clock=sim.VirtualClock()) as world:
        from drivers.relay import Relay

        r = Relay(26, "maglock", True)
        r.unlock(5000)
        r.safe()
        assert r.locked and world.pin(26).level == 1
        world.clock.advance(6000)
        assert r.update() is False and world.pin(26).level == 1


class FlakyPin:
    """A pin whose writes fail after construction (e.g. an I/O expander that vanished)."""

    OUT = 3

    def __init__(self, pin, mode, value=None):
        self.level = value
        self.fail = False

    def value(self, v=None):
        if self.fail:
            raise OSError(5, "EIO")
        self.level = v


def test_safe_never_raises_and_factory_gets_the_locked_level():
    from drivers.relay import Relay

    made = []

    def factory(pin, mode, value=None):
        made.append((pin, mode, value))
        p = FlakyPin(pin, mode, value)
        made.append(p)
        return p

    r = Relay(7, "strike", False, pin_factory=factory)
    assert made[0] == (7, FlakyPin.OUT, 1)  # active-low strike: locked = 1
    made[1].fail = True
    r.safe()  # must not raise
    assert r.locked


def test_rejects_nonsense():
    from drivers.relay import Relay

    with pytest.raises(ValueError):
        Relay(7, "gate", pin_factory=FlakyPin)
    r = Relay(7, pin_factory=FlakyPin)
    for bad in (0, -5, 600000):
        with pytest.raises(ValueError):
            r.unlock(bad)
    assert r.locked


@settings(max_examples=80)
@given(st.lists(st.tuples(st.sampled_from(["unlock", "wait", "safe"]),
                          st.integers(min_value=1, max_value=12000)), max_size=25),
       st.integers(min_value=0, max_value=(1 << 30) - 1))
def test_pin_level_follows_the_deadline(ops, start):
    with sim.installed(clock=sim.VirtualClock(start_ticks_ms=start)) as world:
        from drivers.relay import Relay

        r = Relay(26, "strike", True, pulse_ms=3000)
        deadline = None  # sim ms when the door must be locked again
        for op, ms in ops:
            now = world.clock.now_ms
            if op == "unlock":
                r.unlock(min(ms, 10000))
                deadline = now + min(ms, 10000)
            elif op == "safe":
                r.safe()
                deadline = None
            else:
                world.clock.advance(ms)
                r.update()
            expect_open = deadline is not None and world.clock.now_ms < deadline
            assert world.pin(26).level == (1 if expect_open else 0)


def test_a_minimal_profile_builds_with_the_validators_defaults():
    # no optional key given: the rig and devices.build read the defaults app/board.py
    # filled in (3000 ms pulse, active-high strike), not defaults of their own
    prof = {"name": "minimal", "chip": "esp32",
            "i2c": {"id": 0, "scl": 22, "sda": 21}, "uart": {"id": 2, "tx": 17, "rx": 16},
            "sensor": {"type": "mlx90614"}, "scanner": {"type": "gm65"},
            "relay": {"pin": 26, "lock": "strike"}, "door": {"pin": 27},
            "indicator": {"green": 18, "red": 19}}
    rig = sim.Rig.from_profile(prof)
    assert prof["relay"] == {"pin": 26, "lock": "strike", "active_high": True, "pulse_ms": 3000}
    with rig.installed():
        dev = rig.build()
        assert dev.faults == [] and dev.sensor is not None
        run_relay(rig.world, dev.relay, [(250, dev.relay.unlock)], 5000)
        [(on, off)] = rig.relay_pin.intervals(1)
        assert off - on == 3000.0
