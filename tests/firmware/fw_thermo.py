"""Body-temperature rules (app.thermo), run under CPython and MicroPython."""
from app import reasons, thermo

P = thermo.Params()


def outcome(samples, kw=None):
    """('reading', body, object, ambient) or ('outcome', code): plain values for mpy.map."""
    r = thermo.classify(samples, thermo.Params(**(kw or {})))
    if isinstance(r, thermo.Reading):
        return ("reading", r.body, r.object, r.ambient)
    return ("outcome", r)


def close(a, b, eps=1e-4):
    return abs(a - b) < eps


def test_outcomes_are_reason_codes():
    assert thermo.NO_PERSON == reasons.NO_READING == 21
    assert thermo.UNSTABLE == reasons.UNSTABLE
    assert thermo.SENSOR_FAULT == reasons.SENSOR_FAULT
    assert thermo.IMPLAUSIBLE == reasons.IMPLAUSIBLE
    assert reasons.message(thermo.NO_PERSON) == "Come closer"


def test_compensation_formula():
    p = thermo.Params(k=0.1, offset=0.2)
    # Tcore = Ts + k (Ts - Ta) + offset = 35 + 0.1 * 12 + 0.2
    assert close(p.body(35.0, 23.0), 36.4)
    assert close(thermo.Params(k=0.0).body(36.1, 20.0), 36.1)


def test_steady_person_gives_a_reading():
    samples = [(34.60, 24.0), (34.62, 24.01), (34.58, 24.0), (34.61, 24.02), (34.59, 24.0)]
    r = thermo.classify(samples, P)
    assert isinstance(r, thermo.Reading)
    assert close(r.object, 34.60) and close(r.ambient, 24.006)
    assert close(r.body, 34.60 + 0.11 * (34.60 - 24.006))


def test_nobody_there():
    samples = [(24.1, 24.0)] * 5
    assert thermo.classify(samples, P) == thermo.NO_PERSON
    # warm but too far away (below skin range): come closer
    assert thermo.classify([(28.5, 22.0)] * 5, P) == thermo.NO_PERSON


def test_stepping_in_and_out_is_unstable():
    samples = [(34.6, 24.0), (24.2, 24.0), (34.6, 24.0), (34.6, 24.0), (34.6, 24.0)]
    assert thermo.classify(samples, P) == thermo.UNSTABLE


def test_one_absent_sample_inside_the_spread_is_still_unstable():
    # 29.95 is below skin_min (not a person) yet within stable_c of the others: the
    # presence rule, not the spread rule, must refuse this trace
    samples = [(30.1, 20.0)] * 4 + [(29.95, 20.0)]
    assert thermo.classify(samples, P) == thermo.UNSTABLE
    samples = [(26.1, 24.0)] * 4 + [(26.05, 24.1)]  # presence margin lost on one sample
    assert thermo.classify(samples, thermo.Params(skin_min=25.0)) == thermo.UNSTABLE


def test_drifting_readings_are_unstable():
    samples = [(34.0 + 0.2 * i, 24.0) for i in range(5)]
    assert thermo.classify(samples, P) == thermo.UNSTABLE
    samples = [(34.6, 20.0 + 0.3 * i) for i in range(5)]  # ambient moving
    assert thermo.classify(samples, P) == thermo.UNSTABLE


def test_sensor_faults():
    good = [(34.6, 24.0)] * 4
    assert thermo.classify(good + [None], P) == thermo.SENSOR_FAULT
    nan = float("nan")
    assert thermo.classify(good + [(nan, 24.0)], P) == thermo.SENSOR_FAULT
    assert thermo.classify([(float("inf"), 24.0)] + good, P) == thermo.SENSOR_FAULT
    assert thermo.classify([], P) == thermo.SENSOR_FAULT


def test_implausible_values():
    assert thermo.classify([(48.0, 24.0)] * 5, P) == thermo.IMPLAUSIBLE  # hot cup
    # above the skin range although the compensated value would look like a body: a warm
    # object in a hot room (41 + 0.11 * 2.5 = 41.3 would pass body_max)
    assert thermo.classify([(41.0, 38.5)] * 5, P) == thermo.IMPLAUSIBLE
    assert thermo.classify([(34.6, 60.0)] * 5, P) == thermo.IMPLAUSIBLE  # sun on the housing
    # skin in range but the compensated value is not a living body temperature
    p = thermo.Params(k=0.5, offset=2.0)
    assert thermo.classify([(40.0, 20.0)] * 5, p) == thermo.IMPLAUSIBLE


def test_measure_uses_the_read_callable_and_interval():
    calls = []
    slept = []

    def read():
        calls.append(1)
        return (34.5, 23.0)

    r = thermo.measure(read, thermo.Params(samples=4, interval_ms=50), slept.append)
    assert isinstance(r, thermo.Reading)
    assert len(calls) == 4 and slept == [50, 50, 50]


def test_measure_stops_at_the_first_fault():
    calls = []

    def read():
        calls.append(1)
        if len(calls) == 2:
            raise OSError(5, "EIO")
        return (34.5, 23.0)

    assert thermo.measure(read, P, lambda ms: None) == thermo.SENSOR_FAULT
    assert len(calls) == 2


def test_params_validation_and_settings():
    p = thermo.Params.from_settings({"temp_k": 0.09, "temp_offset": -0.3, "temp_samples": 7,
                                     "mode": "prevention"})
    assert close(p.k, 0.09) and close(p.offset, -0.3) and p.samples == 7
    for bad in ({"k": 0.9}, {"samples": 1}, {"samples": 2.5}, {"k": "0.1"}, {"bogus": 1},
                {"offset": 3.5}, {"skin_min": 39.0, "skin_max": 38.0}):
        try:
            thermo.Params(**bad)
        except ValueError:
            continue
        assert False, bad


def test_params_from_the_device_settings_object():
    from app import settings

    s = settings.Settings({"comp_k": 0.09, "comp_offset": -2.5, "skin_min": 29.0,
                           "skin_max": 42.0})
    p = thermo.Params.from_settings(s, samples=6)
    assert close(p.k, 0.09) and close(p.offset, -2.5) and p.samples == 6
    assert close(p.skin_min, 29.0) and close(p.skin_max, 42.0)
    # every value app.settings accepts is accepted here too (no failure at the gate)
    for k, v in (("comp_offset", 3.0), ("comp_offset", -3.0), ("skin_min", 40.0),
                 ("skin_max", 45.0), ("comp_k", 0.5)):
        d = {k: v}
        if k == "skin_min":
            d["skin_max"] = 45.0
        thermo.Params.from_settings(settings.Settings(d))
    # and the formula is the one app.settings documents
    r = thermo.classify([(36.5, 22.0)] * 5, thermo.Params.from_settings(s))
    assert isinstance(r, thermo.Reading)
    assert close(r.body, settings.compensate(r.object, r.ambient, s))


def test_reading_feeds_the_policy():
    from app import policy, settings

    s = settings.Settings()
    hot = thermo.classify([(37.2, 24.0)] * 5, thermo.Params.from_settings(s))
    assert isinstance(hot, thermo.Reading) and hot.obj == hot.object and hot.amb == hot.ambient
    assert policy.is_fever(hot, s)
    ok = thermo.classify([(34.0, 24.0)] * 5, thermo.Params.from_settings(s))
    assert not policy.is_fever(ok, s)
    assert not policy.is_fever(thermo.UNSTABLE, s)


def test_outcome_helper_shapes():
    assert outcome([(24.0, 24.0)] * 5) == ("outcome", thermo.NO_PERSON)
    kind, body, obj, amb = outcome([(34.5, 24.0)] * 5)
    assert kind == "reading" and close(obj, 34.5) and close(amb, 24.0)
