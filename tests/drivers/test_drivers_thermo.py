"""Body temperature over hypothesis-drawn sensor traces, and end to end through the MLX90614
driver and the bus model: never a body temperature from an absent, unstable or faulty trace."""
from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app import thermo
from gatepass import sim
from gatepass.sim import mlx90614 as scenes

import fw_thermo

P = thermo.Params()
# centi-degrees C, as the driver delivers them (odd values: raw * 2 - 27315)
temps = st.integers(min_value=-2000, max_value=6000)
sample = st.tuples(temps, st.integers(min_value=-2000, max_value=5000))


def present(o, a, p=P):
    return o >= a + p.presence_cc and o >= p.skin_min_cc


def trusted(samples, p=P):
    """Independent statement of when a reading may be returned."""
    if not samples or any(s is None or not all(isinstance(x, int) for x in s) for s in samples):
        return False
    obj = [o for o, _ in samples]
    amb = [a for _, a in samples]
    return (all(present(o, a, p) and o <= p.skin_max_cc for o, a in samples)
            and all(p.amb_min_cc <= a <= p.amb_max_cc for a in amb)
            and max(obj) - min(obj) <= p.stable_cc and max(amb) - min(amb) <= p.amb_stable_cc)


def rounded_mean(xs):
    """Independent integer mean, rounded half up (Fraction arithmetic)."""
    from fractions import Fraction
    import math
    return math.floor(Fraction(sum(xs), len(xs)) + Fraction(1, 2))


@given(st.lists(st.one_of(sample, st.none(), st.tuples(st.sampled_from([1e9, 36.6]), temps)),
                min_size=1, max_size=12))
def test_reading_only_from_a_trusted_trace(samples):
    from fractions import Fraction
    import math

    r = thermo.classify(samples, P)
    if isinstance(r, thermo.Reading):
        assert trusted(samples)
        skin = rounded_mean([o for o, _ in samples])
        amb = rounded_mean([a for _, a in samples])
        comp = math.floor(Fraction(P.k_pm * (skin - amb), 1000) + Fraction(1, 2))
        assert r.body_cc == skin + comp + P.offset_cc
        assert (r.object_cc, r.ambient_cc) == (skin, amb)
        assert P.body_min_cc <= r.body_cc <= P.body_max_cc
    else:
        assert r in thermo.OUTCOMES


@st.composite
def person_trace(draw, n=5):
    skin = draw(st.integers(min_value=3100, max_value=3950))
    amb = draw(st.integers(min_value=0, max_value=skin - 250))
    jitter = st.integers(min_value=-10, max_value=10)
    return [(skin + draw(jitter), amb + draw(jitter)) for _ in range(n)]


@given(person_trace())
def test_steady_person_is_read(samples):
    r = thermo.classify(samples, P)
    assert isinstance(r, thermo.Reading) or r == thermo.IMPLAUSIBLE
    if r == thermo.IMPLAUSIBLE:  # only when the compensated value leaves the body range
        skin = rounded_mean([o for o, _ in samples])
        amb = rounded_mean([a for _, a in samples])
        assert not P.body_min_cc <= P.body(skin, amb) <= P.body_max_cc


@given(person_trace(), st.data())
def test_absent_samples_never_give_a_temperature(samples, data):
    # replace some samples by "nobody": background at ambient
    idx = data.draw(st.sets(st.integers(0, 4), min_size=1))
    trace = [(a + data.draw(st.integers(-100, 190)), a) if i in idx else (o, a)
             for i, (o, a) in enumerate(samples)]
    r = thermo.classify(trace, P)
    assert r == (thermo.NO_PERSON if len(idx) == 5 else thermo.UNSTABLE)


@given(st.integers(min_value=P.skin_min_cc, max_value=P.skin_min_cc + 25), st.integers(0, 4),
       st.integers(min_value=1, max_value=5))
def test_absent_by_a_hair_is_never_read(skin, i, below):
    """One sample just under the skin range, all within the stability spread."""
    trace = [(skin, 2000)] * 5
    trace[i] = (P.skin_min_cc - below, 2000)
    assert thermo.classify(trace, P) == thermo.UNSTABLE


@given(person_trace(), st.integers(0, 4), st.integers(min_value=31, max_value=500))
def test_unstable_object_never_gives_a_temperature(samples, i, step):
    trace = list(samples)
    o, a = trace[i]
    trace[i] = (o + step if o + step <= 4000 else o - step, a)
    assume(max(x for x, _ in trace) - min(x for x, _ in trace) > P.stable_cc)
    assert not isinstance(thermo.classify(trace, P), thermo.Reading)


@given(person_trace(), st.integers(0, 4))
def test_a_failed_read_is_a_sensor_fault(samples, i):
    trace = list(samples)
    trace[i] = None
    assert thermo.classify(trace, P) == thermo.SENSOR_FAULT


@settings(max_examples=30)
@given(st.lists(st.lists(st.one_of(sample, st.none()), min_size=1, max_size=8),
                min_size=1, max_size=25))
def test_micropython_agrees(mpy, traces):
    got = mpy.map("fw_thermo", "outcome", [(t,) for t in traces])
    for t, g in zip(traces, got):
        want = fw_thermo.outcome(t)
        assert g[0] == "ok", g
        assert g[1][0] == want[0]
        assert g[1] == want  # integers: exactly the same on every runtime


# -- end to end: scene -> MLX90614 model -> PEC-checked driver -> thermo -------------------
def measure_scene(scene, params=P, fault=None):
    with sim.installed(clock=sim.VirtualClock()) as world:
        import machine

        from drivers.mlx90614 import MLX90614

        chip = world.i2c(0).attach(sim.MLX90614Model(scene=scene))
        ir = MLX90614(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000))
        if fault:
            fault(chip, world)
        return thermo.measure(ir.read, params)


def test_person_in_front_is_measured():
    r = measure_scene(scenes.person(34.8, 23.0))
    assert isinstance(r, thermo.Reading)
    assert r.object_cc == pytest.approx(3480, abs=1)
    assert r.ambient_cc == pytest.approx(2300, abs=1)
    assert r.body_cc == r.object_cc + thermo.div_round(110 * (r.object_cc - r.ambient_cc), 1000)


def test_fever_is_measured_not_hidden():
    r = measure_scene(scenes.person(37.6, 24.0))
    assert isinstance(r, thermo.Reading) and r.body_cc >= 3730


@pytest.mark.parametrize("scene,outcome", [
    (scenes.constant(23.5, 23.0), thermo.NO_PERSON),
    (scenes.person(34.8, 23.0, arrive_ms=150), thermo.UNSTABLE),  # steps in mid-measurement
    (scenes.person(34.8, 23.0, leave_ms=150), thermo.UNSTABLE),  # steps out
    (scenes.stepping(34.8, 23.0, period_ms=120), thermo.UNSTABLE),
    (scenes.drifting_ambient(34.8, 20.0, rate_c_per_s=4.0), thermo.UNSTABLE),
    (scenes.noisy(scenes.person(34.8, 23.0), sigma_c=0.6), thermo.UNSTABLE),
    (scenes.constant(55.0, 24.0), thermo.IMPLAUSIBLE),
])
def test_scenes_give_typed_outcomes(scene, outcome):
    assert measure_scene(scene) == outcome


@pytest.mark.parametrize("fault", [
    lambda chip, w: setattr(chip, "nack_always", True),
    lambda chip, w: setattr(chip, "bad_pec_always", True),
    lambda chip, w: setattr(chip, "error_flag", True),
    lambda chip, w: setattr(w.i2c(0), "stuck", True),
    lambda chip, w: w.i2c(0).detach(chip),
], ids=["nack", "bad_pec", "error_flag", "stuck_bus", "unplugged"])
def test_bus_faults_end_in_sensor_fault(fault):
    assert measure_scene(scenes.person(34.8, 23.0), fault=fault) == thermo.SENSOR_FAULT


def test_transient_pec_errors_are_absorbed_by_the_driver():
    def flaky(chip, w):
        chip.bad_pec_next = 2

    assert isinstance(measure_scene(scenes.person(34.8, 23.0), fault=flaky), thermo.Reading)


def test_measure_async_on_virtual_time():
    import asyncio

    with sim.installed(clock=sim.VirtualClock()) as world:
        import machine

        from drivers.mlx90614 import MLX90614

        world.i2c(0).attach(sim.MLX90614Model(scene=scenes.person(35.0, 22.0)))
        ir = MLX90614(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000))
        beats = []

        async def main():
            async def heartbeat():
                while True:
                    beats.append(world.clock.now_ms)
                    await asyncio.sleep(0.02)

            hb = asyncio.ensure_future(heartbeat())
            r = await thermo.measure_async(ir.read, P)
            hb.cancel()
            return r

        t0 = world.clock.now_ms
        r = world.clock.run(main())
        assert isinstance(r, thermo.Reading)
        assert world.clock.now_ms - t0 >= 4 * P.interval_ms
        assert len(beats) >= 10  # the loop kept running while measuring
