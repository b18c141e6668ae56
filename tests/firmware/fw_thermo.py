"""Body-temperature rules (app.thermo), run under CPython and both MicroPython ports.

Every value is an integer in centi-degrees C (cC); readings near the fever threshold are
built from MLX90614 raw words (0.02 K units), never from float literals."""
from app import reasons, thermo
from drivers.mlx90614 import raw_to_cc

P = thermo.Params()


def outcome(samples, kw=None):
    """('reading', body, object, ambient) or ('outcome', code): plain values for mpy.map."""
    r = thermo.classify(samples, thermo.Params(**(kw or {})))
    if isinstance(r, thermo.Reading):
        return ("reading", r.body_cc, r.object_cc, r.ambient_cc)
    return ("outcome", r)


def raw_of(c_times_100):
    """The raw word whose temperature is nearest to c_times_100 cC (test-side helper)."""
    return (c_times_100 + 27315 + 1) // 2


def test_outcomes_are_reason_codes():
    assert thermo.NO_PERSON == reasons.NO_READING == 21
    assert thermo.UNSTABLE == reasons.UNSTABLE
    assert thermo.SENSOR_FAULT == reasons.SENSOR_FAULT
    assert thermo.IMPLAUSIBLE == reasons.IMPLAUSIBLE
    assert reasons.message(thermo.NO_PERSON) == "Come closer"


def test_raw_words_convert_exactly():
    assert raw_to_cc(0x3AD2) == 2801  # HARDWARE.md's worked example: 28.01 C
    assert raw_to_cc(0) == -27315 and raw_to_cc(0x7FFF) == 38219
    assert raw_to_cc(15523) == 3731 and raw_to_cc(15522) == 3729  # odd cC only


def test_compensation_formula():
    p = thermo.Params(k_pm=100, offset_cc=20)
    # Tcore = Ts + k (Ts - Ta) / 1000 + offset = 3500 + 100 * 1200 / 1000 + 20
    assert p.body(3500, 2300) == 3640
    assert thermo.Params(k_pm=0).body(3610, 2000) == 3610
    # rounded half up, in integers: 110 * 1205 / 1000 = 132.55 -> 133
    assert thermo.Params(k_pm=110).body(3505, 2300) == 3505 + 133
    assert thermo.div_round(-5, 10) == 0 and thermo.div_round(5, 10) == 1
    assert thermo.div_round(-15, 10) == -1 and thermo.div_round(14, 10) == 1


def test_steady_person_gives_a_reading():
    samples = [(3460, 2400), (3462, 2401), (3458, 2400), (3461, 2402), (3459, 2400)]
    r = thermo.classify(samples, P)
    assert isinstance(r, thermo.Reading)
    assert r.object_cc == 3460 and r.ambient_cc == 2401  # 12003 / 5 = 2400.6 -> 2401
    assert r.body_cc == 3460 + thermo.div_round(110 * (3460 - 2401), 1000)
    assert isinstance(r.body_cc, int)


def test_nobody_there():
    assert thermo.classify([(2410, 2400)] * 5, P) == thermo.NO_PERSON
    # warm but too far away (below skin range): come closer
    assert thermo.classify([(2850, 2200)] * 5, P) == thermo.NO_PERSON


def test_stepping_in_and_out_is_unstable():
    samples = [(3460, 2400), (2420, 2400), (3460, 2400), (3460, 2400), (3460, 2400)]
    assert thermo.classify(samples, P) == thermo.UNSTABLE


def test_one_absent_sample_inside_the_spread_is_still_unstable():
    # 2995 is below skin_min (not a person) yet within stable_cc of the others: the
    # presence rule, not the spread rule, must refuse this trace
    samples = [(3010, 2000)] * 4 + [(2995, 2000)]
    assert thermo.classify(samples, P) == thermo.UNSTABLE
    samples = [(2610, 2400)] * 4 + [(2605, 2410)]  # presence margin lost on one sample
    assert thermo.classify(samples, thermo.Params(skin_min_cc=2500)) == thermo.UNSTABLE


def test_drifting_readings_are_unstable():
    samples = [(3400 + 20 * i, 2400) for i in range(5)]
    assert thermo.classify(samples, P) == thermo.UNSTABLE
    samples = [(3460, 2000 + 30 * i) for i in range(5)]  # ambient moving
    assert thermo.classify(samples, P) == thermo.UNSTABLE


def test_sensor_faults():
    good = [(3460, 2400)] * 4
    assert thermo.classify(good + [None], P) == thermo.SENSOR_FAULT
    # anything but an int from the driver is a fault, never a number to average
    assert thermo.classify(good + [(34.6, 2400)], P) == thermo.SENSOR_FAULT
    assert thermo.classify([(float("inf"), 2400)] + good, P) == thermo.SENSOR_FAULT
    assert thermo.classify([(True, 2400)] + good, P) == thermo.SENSOR_FAULT
    assert thermo.classify([], P) == thermo.SENSOR_FAULT


def test_implausible_values():
    assert thermo.classify([(4800, 2400)] * 5, P) == thermo.IMPLAUSIBLE  # hot cup
    # above the skin range although the compensated value would look like a body: a warm
    # object in a hot room (4100 + 0.11 * 250 = 4128 would pass body_max)
    assert thermo.classify([(4100, 3850)] * 5, P) == thermo.IMPLAUSIBLE
    assert thermo.classify([(3460, 6000)] * 5, P) == thermo.IMPLAUSIBLE  # sun on the housing
    # skin in range but the compensated value is not a living body temperature
    p = thermo.Params(k_pm=500, offset_cc=200)
    assert thermo.classify([(4000, 2000)] * 5, p) == thermo.IMPLAUSIBLE


def test_measure_uses_the_read_callable_and_interval():
    calls = []
    slept = []

    def read():
        calls.append(1)
        return (3450, 2300)

    r = thermo.measure(read, thermo.Params(samples=4, interval_ms=50), slept.append)
    assert isinstance(r, thermo.Reading)
    assert len(calls) == 4 and slept == [50, 50, 50]


def test_measure_stops_at_the_first_fault():
    calls = []

    def read():
        calls.append(1)
        if len(calls) == 2:
            raise OSError(5, "EIO")
        return (3450, 2300)

    assert thermo.measure(read, P, lambda ms: None) == thermo.SENSOR_FAULT
    assert len(calls) == 2


def test_params_validation_and_settings():
    p = thermo.Params.from_settings({"temp_k_pm": 90, "temp_offset_cc": -30, "temp_samples": 7,
                                     "mode": "prevention"})
    assert p.k_pm == 90 and p.offset_cc == -30 and p.samples == 7
    for bad in ({"k_pm": 900}, {"samples": 1}, {"samples": 2.5}, {"k_pm": "100"}, {"bogus": 1},
                {"offset_cc": 350}, {"k_pm": 0.1}, {"skin_min_cc": 3900, "skin_max_cc": 3800}):
        try:
            thermo.Params(**bad)
        except ValueError:
            continue
        assert False, bad


def test_params_from_the_device_settings_object():
    from app import settings

    s = settings.Settings({"comp_k_pm": 90, "comp_offset_cc": -250, "skin_min_cc": 2900,
                           "skin_max_cc": 4200})
    p = thermo.Params.from_settings(s, samples=6)
    assert p.k_pm == 90 and p.offset_cc == -250 and p.samples == 6
    assert p.skin_min_cc == 2900 and p.skin_max_cc == 4200
    # every value app.settings accepts is accepted here too (no failure at the gate)
    for k, v in (("comp_offset_cc", 300), ("comp_offset_cc", -300), ("skin_min_cc", 4000),
                 ("skin_max_cc", 4500), ("comp_k_pm", 500)):
        d = {k: v}
        if k == "skin_min_cc":
            d["skin_max_cc"] = 4500
        thermo.Params.from_settings(settings.Settings(d))
    for bad in ({"comp_k_pm": 0.1}, {"comp_k": 0.1}, {"comp_offset_cc": 301}):
        try:
            settings.Settings(bad)
        except ValueError:
            continue
        assert False, bad


def test_reading_feeds_the_policy():
    from app import policy, settings

    s = settings.Settings()
    pp = thermo.Params.from_settings(s)
    hot = thermo.classify([(raw_to_cc(raw_of(3721)), raw_to_cc(raw_of(2400)))] * 5, pp)
    assert isinstance(hot, thermo.Reading) and policy.is_fever(hot, s)
    ok = thermo.classify([(raw_to_cc(raw_of(3400)), raw_to_cc(raw_of(2400)))] * 5, pp)
    assert isinstance(ok, thermo.Reading) and not policy.is_fever(ok, s)
    assert not policy.is_fever(thermo.UNSTABLE, s)
    try:
        policy.is_fever(policy.Reading(37.3), s)  # a float never reaches the compare
        assert False
    except TypeError:
        pass


def walk_threshold(k_pm, offset_cc, threshold, obj_lo, obj_hi, amb_lo, amb_hi, amb_step=1):
    """Every raw (object, ambient) word pair in the ranges, measured (5 equal samples) and
    decided by the policy with the device settings, then logged the way the gate logs:
    returns (pairs, fevers, allowed at/above the threshold, fevers below it)."""
    from app import policy, record, settings
    from core_doubles import FakePass

    s = settings.Settings({"comp_k_pm": k_pm, "comp_offset_cc": offset_cc, "threshold": threshold})
    pp = thermo.Params.from_settings(s)
    p = FakePass()
    n = fevers = bad_allow = bad_fever = 0
    for a_raw in range(amb_lo, amb_hi, amb_step):
        amb = raw_to_cc(a_raw)
        for o_raw in range(obj_lo, obj_hi):
            r = thermo.classify([(raw_to_cc(o_raw), amb)] * 5, pp)
            if not isinstance(r, thermo.Reading):
                continue
            n += 1
            d = policy.decide(p, r, 0, 1767225600, True, s)
            logged = record.clamp_cc(r.body_cc)
            if d.reason == reasons.FEVER:
                fevers += 1
            if logged >= s.threshold_cc and d.allow:
                bad_allow += 1
            if logged < s.threshold_cc and d.reason == reasons.FEVER:
                bad_fever += 1
    return n, fevers, bad_allow, bad_fever


def test_every_raw_pair_near_the_threshold():
    """Every object word from 35.5 to 38.0 C against every ambient word from 18 to 28 C,
    through the firmware's own averaging, compensation, policy and record clamp: logged >=
    threshold is never allowed, logged below it never a fever."""
    n, fevers, bad_allow, bad_fever = walk_threshold(100, 0, 37.3, raw_of(3550), raw_of(3800),
                                                     raw_of(1800), raw_of(2800))
    assert n > 30000 and 0 < fevers < n
    assert bad_allow == 0 and bad_fever == 0


def test_threshold_boundary_from_raw_words():
    # k = 0: body = object exactly; object words are odd cC, so 3729 and 3731 straddle 3730
    n, fevers, bad_allow, bad_fever = walk_threshold(0, 0, 37.3, 15522, 15524, raw_of(2400),
                                                     raw_of(2400) + 1)
    assert (n, fevers, bad_allow, bad_fever) == (2, 1, 0, 0)
    # offset +1 cC makes 3729 -> 3730: now both are fevers (at the threshold denies)
    n, fevers, bad_allow, bad_fever = walk_threshold(0, 1, 37.3, 15522, 15524, raw_of(2400),
                                                     raw_of(2400) + 1)
    assert (n, fevers, bad_allow, bad_fever) == (2, 2, 0, 0)


def test_outcome_helper_shapes():
    assert outcome([(2400, 2400)] * 5) == ("outcome", thermo.NO_PERSON)
    kind, body, obj, amb = outcome([(3450, 2400)] * 5)
    assert kind == "reading" and obj == 3450 and amb == 2400 and body == 3450 + 116
