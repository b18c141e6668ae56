"""Body temperature from forehead skin readings: a reading or a typed outcome, never a guess.

    params = Params.from_settings(settings)          # k, offset, thresholds...
    r = measure(sensor.read, params)                 # sensor.read() -> (object_c, ambient_c)
    if isinstance(r, Reading): r.body, r.object, r.ambient
    else: r is NO_PERSON / UNSTABLE / SENSOR_FAULT / IMPLAUSIBLE (app.reasons codes)

Rules, applied to `samples` readings `interval_ms` apart:
  - any read raising OSError (the driver's PEC/NACK/error-flag failure) or a non-finite
    value -> SENSOR_FAULT;
  - ambient outside `amb_min..amb_max` -> IMPLAUSIBLE (sensor in the sun, broken part);
  - a sample is *present* when object >= ambient + presence_c and object >= skin_min;
    no sample present -> NO_PERSON (come closer); some but not all -> UNSTABLE (moving);
  - object above skin_max in a present sample -> IMPLAUSIBLE (a hot drink, a lamp);
  - object spread (max - min) > stable_c or ambient spread > amb_stable_c -> UNSTABLE;
  - Tcore = Ts + k * (Ts - Ta) + offset with Ts, Ta the means; outside body_min..body_max
    -> IMPLAUSIBLE; else a Reading.
`Sampler` holds the same rules without timing, for a caller that schedules its own reads.
"""
from micropython import const

from app.reasons import IMPLAUSIBLE, NO_READING, SENSOR_FAULT, UNSTABLE

NO_PERSON = NO_READING  # reason code 21: nobody (close enough) in front of the sensor
OUTCOMES = (NO_PERSON, UNSTABLE, SENSOR_FAULT, IMPLAUSIBLE)

_MAX_SAMPLES = const(32)

# accepted ranges (k, offset, skin_min/max: the same as app.settings accepts)
_RANGES = (
    ("k", 0.0, 0.5),  # skin-to-core gain, published ~0.09..0.13
    ("offset", -3.0, 3.0),  # per-site calibration, C
    ("samples", 2, _MAX_SAMPLES),
    ("interval_ms", 10, 1000),
    ("presence_c", 0.5, 10.0),  # object must exceed ambient by this much
    ("skin_min", 20.0, 40.0),
    ("skin_max", 35.0, 45.0),
    ("stable_c", 0.05, 2.0),  # max spread of object samples
    ("amb_stable_c", 0.05, 5.0),  # max spread of ambient samples
    ("amb_min", -40.0, 20.0),
    ("amb_max", 25.0, 85.0),
    ("body_min", 30.0, 36.0),
    ("body_max", 40.0, 45.0),
)
_INTS = ("samples", "interval_ms")


_SETTINGS_KEYS = (("comp_k", "k"), ("comp_offset", "offset"), ("skin_min", "skin_min"),
                  ("skin_max", "skin_max"))


def _setting(settings, key):
    if isinstance(settings, dict):
        return settings.get(key)
    return getattr(settings, key, None)


class Params:
    """Measurement parameters (defaults below; ranges in _RANGES). Units: C and ms."""

    k = 0.11
    offset = 0.0
    samples = 5
    interval_ms = 60
    presence_c = 2.0
    skin_min = 30.0
    skin_max = 40.5
    stable_c = 0.3
    amb_stable_c = 0.5
    amb_min = -10.0
    amb_max = 45.0
    body_min = 34.0
    body_max = 42.5

    def __init__(self, **kw):
        for name, lo, hi in _RANGES:
            v = kw.pop(name, getattr(Params, name))
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError("thermo " + name + " must be a number")
            if name in _INTS:
                if v != int(v):
                    raise ValueError("thermo " + name + " must be an integer")
                v = int(v)
            else:
                v = float(v)
            if not lo <= v <= hi:
                raise ValueError("thermo %s=%s outside %s..%s" % (name, v, lo, hi))
            setattr(self, name, v)
        if kw:
            raise ValueError("unknown thermo parameter " + sorted(kw)[0])
        if self.skin_min >= self.skin_max or self.body_min >= self.body_max:
            raise ValueError("thermo ranges are empty")

    @classmethod
    def from_settings(cls, settings, **extra):
        """From an app.settings.Settings object or a settings dict: comp_k -> k,
        comp_offset -> offset, skin_min, skin_max; a dict may also carry "temp_<name>" for
        any other parameter. `extra` overrides (e.g. samples=7)."""
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

    def body(self, skin, ambient):
        """Skin-to-core compensation: Ts + k * (Ts - Ta) + offset."""
        return skin + self.k * (skin - ambient) + self.offset


class Reading:
    """A trusted measurement: body (compensated), object (mean skin), ambient, C.
    Also as .obj/.amb, the names app.policy.Reading uses, so policy.decide takes it."""

    def __init__(self, body, obj, ambient):
        self.body = body
        self.object = self.obj = obj
        self.ambient = self.amb = ambient

    def __repr__(self):
        return "Reading(body=%.2f, object=%.2f, ambient=%.2f)" % (
            self.body, self.object, self.ambient)


def _finite(x):
    return x == x and -1e6 < x < 1e6


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
        self.o_sum = 0.0
        self.a_sum = 0.0
        self.o_min = self.a_min = 1e9
        self.o_max = self.a_max = -1e9

    def add(self, obj, amb):
        """Add one (object_c, ambient_c) sample."""
        p = self.p
        self.n += 1
        if not (_finite(obj) and _finite(amb)):
            self.fault = True
            return
        if not p.amb_min <= amb <= p.amb_max:
            self.bad_ambient = True
        if obj >= amb + p.presence_c and obj >= p.skin_min:
            self.present += 1
            if obj > p.skin_max:
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
        if self.o_max - self.o_min > p.stable_c or self.a_max - self.a_min > p.amb_stable_c:
            return UNSTABLE
        skin = self.o_sum / self.n
        amb = self.a_sum / self.n
        body = p.body(skin, amb)
        if not p.body_min <= body <= p.body_max:
            return IMPLAUSIBLE
        return Reading(body, skin, amb)


def classify(samples, params):
    """Apply the rules to collected samples: [(object_c, ambient_c) or None for a failed
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
    """Take `params.samples` samples with `read()` -> (object_c, ambient_c), `interval_ms`
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
