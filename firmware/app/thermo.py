"""Body temperature from forehead skin readings: a reading or a typed outcome, never a guess.
Every value is an integer in centi-degrees C (cC), from the sensor's raw word to the
threshold compare: no float decides anything, so the ESP32's single-precision floats and a
host's doubles give the same outcome.

    params = Params.from_settings(settings)          # k (per-mille), offset (cC), ...
    r = measure(sensor.read, params)                 # sensor.read() -> (object_cc, ambient_cc)
    if isinstance(r, Reading): r.body_cc, r.object_cc, r.ambient_cc
    else: r is NO_PERSON / UNSTABLE / SENSOR_FAULT / IMPLAUSIBLE (app.reasons codes)

Rules, applied to `samples` readings `interval_ms` apart:
  - any read raising OSError (the driver's PEC/NACK/error-flag failure) or a value that is
    not an int -> SENSOR_FAULT;
  - ambient outside `amb_min..amb_max` -> IMPLAUSIBLE (sensor in the sun, broken part);
  - a sample is *present* when object >= ambient + presence and object >= skin_min;
    no sample present -> NO_PERSON (come closer); some but not all -> UNSTABLE (moving);
  - object above skin_max in a present sample -> IMPLAUSIBLE (a hot drink, a lamp);
  - object spread (max - min) > stable or ambient spread > amb_stable -> UNSTABLE;
  - Ts, Ta = the means rounded half up to whole cC; Tcore = Ts + round(k * (Ts - Ta) / 1000)
    + offset (k per-mille, rounded half up); outside body_min..body_max -> IMPLAUSIBLE;
    else a Reading.
`Sampler` holds the same rules without timing, for a caller that schedules its own reads.
"""
from micropython import const

from app.reasons import IMPLAUSIBLE, NO_READING, SENSOR_FAULT, UNSTABLE

NO_PERSON = NO_READING  # reason code 21: nobody (close enough) in front of the sensor
OUTCOMES = (NO_PERSON, UNSTABLE, SENSOR_FAULT, IMPLAUSIBLE)

_MAX_SAMPLES = const(32)

# accepted ranges, integers (k_pm, offset_cc, skin_min_cc/max_cc: as app.settings accepts)
_RANGES = (
    ("k_pm", 0, 500),  # skin-to-core gain, per-mille (published ~90..130)
    ("offset_cc", -300, 300),  # per-site calibration, cC
    ("samples", 2, _MAX_SAMPLES),
    ("interval_ms", 10, 1000),
    ("presence_cc", 50, 1000),  # object must exceed ambient by this much
    ("skin_min_cc", 2000, 4000),
    ("skin_max_cc", 3500, 4500),
    ("stable_cc", 5, 200),  # max spread of object samples
    ("amb_stable_cc", 5, 500),  # max spread of ambient samples
    ("amb_min_cc", -4000, 2000),
    ("amb_max_cc", 2500, 8500),
    ("body_min_cc", 3000, 3600),
    ("body_max_cc", 4000, 4500),
)


_SETTINGS_KEYS = (("comp_k_pm", "k_pm"), ("comp_offset_cc", "offset_cc"),
                  ("skin_min_cc", "skin_min_cc"), ("skin_max_cc", "skin_max_cc"))


def _setting(settings, key):
    if isinstance(settings, dict):
        return settings.get(key)
    return getattr(settings, key, None)


def div_round(a, b):
    """a / b rounded half up, integers only (b > 0): -5/10 -> 0, 5/10 -> 1, 15/10 -> 2."""
    return (2 * a + b) // (2 * b)


class Params:
    """Measurement parameters (defaults below; ranges in _RANGES). Units: cC, per-mille, ms."""

    k_pm = 110
    offset_cc = 0
    samples = 5
    interval_ms = 60
    presence_cc = 200
    skin_min_cc = 3000
    skin_max_cc = 4050
    stable_cc = 30
    amb_stable_cc = 50
    amb_min_cc = -1000
    amb_max_cc = 4500
    body_min_cc = 3400
    body_max_cc = 4250

    def __init__(self, **kw):
        for name, lo, hi in _RANGES:
            v = kw.pop(name, getattr(Params, name))
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError("thermo " + name + " must be an integer")
            if not lo <= v <= hi:
                raise ValueError("thermo %s=%s outside %s..%s" % (name, v, lo, hi))
            setattr(self, name, v)
        if kw:
            raise ValueError("unknown thermo parameter " + sorted(kw)[0])
        if self.skin_min_cc >= self.skin_max_cc or self.body_min_cc >= self.body_max_cc:
            raise ValueError("thermo ranges are empty")

    @classmethod
    def from_settings(cls, settings, **extra):
        """From an app.settings.Settings object or a settings dict: comp_k_pm -> k_pm,
        comp_offset_cc -> offset_cc, skin_min_cc, skin_max_cc; a dict may also carry
        "temp_<name>" for any other parameter. `extra` overrides (e.g. samples=7)."""
        kw = {}
        for src, name in _SETTINGS_KEYS:
            v = _setting(settings, src)
            if v is not None:
                kw[name] = v
        if isinstance(settings, dict):
            for name, _lo, _hi in _RANGES:
                if "temp_" + name in settings:
                    kw[name] = settings["temp_" + name]
        for name in extra:
            kw[name] = extra[name]
        return cls(**kw)

    def body(self, skin_cc, ambient_cc):
        """Skin-to-core compensation in cC: Ts + k (Ts - Ta) / 1000 + offset."""
        return skin_cc + div_round(self.k_pm * (skin_cc - ambient_cc), 1000) + self.offset_cc

    def present(self, obj_cc, amb_cc):
        """Someone (close enough) in front of the sensor."""
        return obj_cc >= amb_cc + self.presence_cc and obj_cc >= self.skin_min_cc


class Reading:
    """A trusted measurement in cC: body (compensated), object (mean skin), ambient.
    app.policy.Reading has the same attributes, so policy.decide takes either."""

    def __init__(self, body_cc, object_cc, ambient_cc):
        self.body_cc = body_cc
        self.object_cc = object_cc
        self.ambient_cc = ambient_cc

    def __repr__(self):
        return "Reading(body_cc=%d, object_cc=%d, ambient_cc=%d)" % (
            self.body_cc, self.object_cc, self.ambient_cc)


_BIG = const(1 << 20)


class Sampler:
    """Collects samples for one measurement; `result()` applies the rules."""

    def __init__(self, params):
        self.p = params
        self.reset()

    def reset(self):
        self.n = 0
        self.present = 0
        self.fault = False
        self.bad_ambient = False
        self.too_hot = False
        self.o_sum = 0
        self.a_sum = 0
        self.o_min = self.a_min = _BIG
        self.o_max = self.a_max = -_BIG

    def add(self, obj, amb):
        """Add one (object_cc, ambient_cc) sample (ints)."""
        p = self.p
        self.n += 1
        if (not isinstance(obj, int) or not isinstance(amb, int) or isinstance(obj, bool)
                or not -_BIG < obj < _BIG or not -_BIG < amb < _BIG):
            self.fault = True
            return
        if not p.amb_min_cc <= amb <= p.amb_max_cc:
            self.bad_ambient = True
        if p.present(obj, amb):
            self.present += 1
            if obj > p.skin_max_cc:
                self.too_hot = True
        self.o_sum += obj
        self.a_sum += amb
        if obj < self.o_min:
            self.o_min = obj
        if obj > self.o_max:
            self.o_max = obj
        if amb < self.a_min:
            self.a_min = amb
        if amb > self.a_max:
            self.a_max = amb

    def add_fault(self):
        """A read failed (OSError from the driver)."""
        self.n += 1
        self.fault = True

    @property
    def complete(self):
        return self.n >= self.p.samples or self.fault

    def result(self):
        """A Reading or an outcome code (needs at least one sample)."""
        p = self.p
        if self.fault or self.n == 0:
            return SENSOR_FAULT
        if self.bad_ambient:
            return IMPLAUSIBLE
        if self.present == 0:
            return NO_PERSON
        if self.present < self.n:
            return UNSTABLE
        if self.too_hot:
            return IMPLAUSIBLE
        if self.o_max - self.o_min > p.stable_cc or self.a_max - self.a_min > p.amb_stable_cc:
            return UNSTABLE
        skin = div_round(self.o_sum, self.n)
        amb = div_round(self.a_sum, self.n)
        body = p.body(skin, amb)
        if not p.body_min_cc <= body <= p.body_max_cc:
            return IMPLAUSIBLE
        return Reading(body, skin, amb)


def classify(samples, params):
    """Apply the rules to collected samples: [(object_cc, ambient_cc) or None for a failed
    read, ...]. Returns a Reading or an outcome code."""
    s = Sampler(params)
    for smp in samples:
        if smp is None:
            s.add_fault()
        else:
            s.add(smp[0], smp[1])
    return s.result()


def _take(s, read):
    try:
        o, a = read()
    except OSError:
        s.add_fault()
        return
    s.add(o, a)


def measure(read, params, sleep_ms=None):
    """Take `params.samples` samples with `read()` -> (object_cc, ambient_cc), `interval_ms`
    apart (`sleep_ms` defaults to time.sleep_ms). Returns a Reading or an outcome code.
    Stops early on a sensor fault."""
    if sleep_ms is None:
        import time

        sleep_ms = time.sleep_ms
    s = Sampler(params)
    while not s.complete:
        if s.n:
            sleep_ms(params.interval_ms)
        _take(s, read)
    return s.result()


async def measure_async(read, params):
    """measure() for asyncio tasks: sleeps without blocking the other tasks."""
    from app.aio import sleep_ms

    s = Sampler(params)
    while not s.complete:
        if s.n:
            await sleep_ms(params.interval_ms)
        _take(s, read)
    return s.result()


def is_reading(r):
    return isinstance(r, Reading)
