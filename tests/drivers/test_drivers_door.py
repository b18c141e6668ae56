"""Door contact driver: debounce, opened/closed, held-open and forced-open timing."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass import sim


def make(world, contact="nc", locked=True, **kw):
    from drivers.door import Door

    state = {"locked": locked}
    pin = world.pin(27)
    pin.drive(0 if contact == "nc" else 1)  # door shut
    d = Door(27, contact, is_locked=lambda: state["locked"], **kw)
    return d, pin, state


def run(world, door, script, total_ms, step=10):
    """Poll door.update() every `step` ms; script: {t_ms: fn}. Returns [(t_ms, event)]."""
    events = []
    t = 0
    while t <= total_ms:
        if t in script:
            script[t]()
        ev = door.update()
        while ev:
            events.append((world.clock.now_ms, ev))
            ev = door.update()
        world.clock.advance(step)
        t += step
    return events


@pytest.fixture
def world():
    with sim.installed(clock=sim.VirtualClock()) as w:
        yield w


@pytest.fixture
def D():
    with sim.installed(clock=sim.VirtualClock()):
        from drivers import door
    return door


def test_open_and_close_with_debounce(world, D):
    d, pin, state = make(world, locked=False)
    ev = run(world, d, {1000: lambda: pin.drive(1), 3000: lambda: pin.drive(0)}, 4000)
    assert ev == [(1050.0, D.OPENED), (3050.0, D.CLOSED)]
    assert not d.is_open


def test_bounces_shorter_than_debounce_are_ignored(world, D):
    d, pin, state = make(world, locked=False)
    script = {1000: lambda: pin.drive(1), 1020: lambda: pin.drive(0),
              1040: lambda: pin.drive(1), 1060: lambda: pin.drive(0)}
    assert run(world, d, script, 2000) == []


def test_held_open_after_timeout_once_per_opening(world, D):
    d, pin, state = make(world, locked=False, held_open_ms=30000)
    script = {1000: lambda: pin.drive(1), 40000: lambda: pin.drive(0),
              41000: lambda: pin.drive(1)}
    ev = run(world, d, script, 75000)
    assert ev == [(1050.0, D.OPENED), (31000.0, D.HELD_OPEN), (40050.0, D.CLOSED),
                  (41050.0, D.OPENED), (71000.0, D.HELD_OPEN)]


def test_forced_open_when_opened_while_locked(world, D):
    d, pin, state = make(world, locked=True, forced_ms=1000)
    ev = run(world, d, {1000: lambda: pin.drive(1)}, 3000)
    assert ev == [(1050.0, D.OPENED), (2000.0, D.FORCED_OPEN)]


def test_a_rattle_while_locked_is_not_forced(world, D):
    d, pin, state = make(world, locked=True, forced_ms=1000)
    ev = run(world, d, {1000: lambda: pin.drive(1), 1600: lambda: pin.drive(0)}, 4000)
    assert ev == [(1050.0, D.OPENED), (1650.0, D.CLOSED)]


def test_opened_during_unlock_is_not_forced_even_after_relock(world, D):
    d, pin, state = make(world, locked=False)
    script = {500: lambda: pin.drive(1), 1000: lambda: state.update(locked=True)}
    ev = run(world, d, script, 5000)
    assert ev == [(550.0, D.OPENED)]


def test_lock_state_taken_when_the_door_moved(world, D):
    # relock 20 ms after the door started opening: still the person who was let in
    d, pin, state = make(world, locked=False)
    script = {500: lambda: pin.drive(1), 520: lambda: state.update(locked=True)}
    assert run(world, d, script, 3000) == [(550.0, D.OPENED)]
    # opened 20 ms after the relock: forced
    d, pin, state = make(world, locked=False)
    t0 = world.clock.now_ms
    script = {500: lambda: state.update(locked=True), 520: lambda: pin.drive(1)}
    ev = run(world, d, script, 3000)
    assert [(t - t0, e) for t, e in ev] == [(570.0, D.OPENED), (1520.0, D.FORCED_OPEN)]


def test_no_contact_and_a_cut_nc_wire(world, D):
    d, pin, state = make(world, contact="no", locked=False)
    ev = run(world, d, {100: lambda: pin.drive(0), 500: lambda: pin.drive(1)}, 1000)
    assert [e for _, e in ev] == [D.OPENED, D.CLOSED]
    # NC loop cut: the pull-up wins, which reads as open (and forced when locked)
    d, pin, state = make(world, contact="nc", locked=True)
    ev = run(world, d, {100: lambda: pin.drive(None)}, 2000)
    assert [e for _, e in ev] == [D.OPENED, D.FORCED_OPEN]


def test_open_at_boot_is_no_event_but_still_held_open(world, D):
    from drivers.door import Door

    world.pin(27).drive(1)  # NC contact open
    d = Door(27, "nc", held_open_ms=10000)
    assert d.is_open
    ev = run(world, d, {}, 12000)
    assert ev == [(10000.0, D.HELD_OPEN)]


def test_run_task_calls_back(world, D):
    d, pin, state = make(world, locked=True)
    seen = []
    world.clock.after(200, lambda: pin.drive(1))

    async def main():
        t = asyncio.ensure_future(d.run(lambda e: seen.append((world.clock.now_ms, e))))
        await asyncio.sleep(2)
        t.cancel()

    world.clock.run(main())
    assert [e for _, e in seen] == [D.OPENED, D.FORCED_OPEN]
    assert 250 <= seen[0][0] <= 270 and 1200 <= seen[1][0] <= 1220


@pytest.mark.parametrize("name", sim.profile_names())
def test_every_profile_door_works(name):
    rig = sim.Rig.from_profile(name)
    with rig.installed():
        from drivers import door as D

        dev = rig.build()
        assert not dev.door.is_open
        rig.clock.advance(100)
        rig.set_door(True)
        evs = []
        for _ in range(200):
            rig.clock.advance(10)
            ev = dev.door.update()
            if ev:
                evs.append(ev)
        assert evs == [D.OPENED, D.FORCED_OPEN]  # relay locked: forced


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=3000), st.booleans()),
                min_size=1, max_size=20))
def test_events_alternate_and_only_after_stable_levels(changes):
    """Random contact activity: OPENED/CLOSED alternate, each only after the level held for
    the debounce time; FORCED_OPEN only while open and at most once per opening."""
    with sim.installed(clock=sim.VirtualClock()) as world:
        from drivers import door as D

        d, pin, state = make(world, locked=True, forced_ms=1000, held_open_ms=5000)
        t = 0
        script = {}
        for dt, level in changes:
            t += dt - dt % 10 + 10
            script[t] = (lambda lv: (lambda: pin.drive(1 if lv else 0)))(level)
        ev = run(world, d, script, t + 2000)
        is_open = False
        forced = held = 0
        for when, e in ev:
            if e == D.OPENED:
                assert not is_open
                is_open, forced, held = True, 0, 0
                assert pin.level_at(when - 50) == 1 and pin.level_at(when) == 1
            elif e == D.CLOSED:
                assert is_open
                is_open = False
                assert pin.level_at(when - 50) == 0
            elif e == D.FORCED_OPEN:
                assert is_open and forced == 0
                forced += 1
            elif e == D.HELD_OPEN:
                assert is_open and held == 0
                held += 1
        assert is_open == (pin.level == 1)  # 2 s after the last change: settled
