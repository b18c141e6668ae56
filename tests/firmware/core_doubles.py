"""Test doubles shared by fw_policy / fw_clock / fw_eventlog (MicroPython-compatible).

Not mocks: small real implementations of the interfaces policy/clock/eventlog consume.
"""
import os

from app import passes, roles

NOW = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400


def FakePass(role=roles.RESIDENT, cti=b"\x01\x02\x03\x04\x05\x06\x07\x08\x09",
             nbf=NOW - 30 * DAY, exp=NOW + 30 * DAY, unit=(3, 1, 1203), dirs=roles.BOTH,
             iss="sunny-garden", kid=b"k1", label=""):
    """A real app.passes.Pass with test defaults, as if it had been verified (iat = nbf)."""
    return passes.Pass(kid, iss, cti, nbf, exp, nbf, role, unit, dirs, label)


class FakeLists:
    """In-RAM lists with the app.lists.Lists lookup interface and the same wildcard
    semantics: (b, 0, 0) is a whole building, (b, e, 0) one entrance."""

    def __init__(self, revoked=(), quarantined=(), isolated=()):
        self.revoked = set(revoked)
        self.quarantined = set(quarantined)
        self.isolated = {}  # pid -> end unix s
        for pid, end in isolated:
            self.isolated[bytes(pid)] = end

    def is_revoked(self, pid):
        return bytes(pid) in self.revoked

    def is_quarantined(self, b, e, r):
        q = self.quarantined
        return (b, 0, 0) in q or (b, e, 0) in q or (b, e, r) in q

    def isolated_until(self, pid):
        return self.isolated.get(bytes(pid), 0)


class FakeVisits:
    """The visitor table's state() in RAM (app.visits semantics, no capacity limit
    unless `full`)."""

    def __init__(self, states=None, full=False):
        self.states = dict(states or {})
        self.full = full

    def state(self, pid, now=None):
        from app import visits
        st = self.states.get(bytes(pid), visits.NONE)
        if st == visits.NONE and self.full:
            return visits.FULL
        return st


class FakeApb:
    """Anti-passback state in RAM: pid -> (direction, unix)."""

    def __init__(self):
        self.state = {}

    def last(self, pid):
        return self.state.get(bytes(pid))

    def record(self, pid, direction, t):
        self.state[bytes(pid)] = (direction, t)


class VirtualClock:
    """A port clock under test control: call it for 'time.time()'."""

    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


_n = [0]


def tmpdir(name):
    """A fresh empty directory (CPython: under the system temp dir; MicroPython: in
    the runtime's in-memory filesystem)."""
    import fwenv
    if fwenv.RUNTIME == "cpython":
        import tempfile
        return tempfile.mkdtemp(prefix="gp_" + name)
    _n[0] += 1
    p = "/tmp_%s_%d" % (name, _n[0])
    try:
        os.mkdir("/tmp_")
    except OSError:
        pass
    os.mkdir(p)
    return p


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


AMB_RAW = 14862  # an MLX90614 ambient word: 22.09 C


def from_raw(obj_raw, amb_raw=AMB_RAW, s=None):
    """What the gate measures when the sensor gives these two raw words (0.02 K units) five
    times: a thermo.Reading (integer cC) or an outcome code, with the settings' compensation."""
    from app import thermo
    from app.settings import Settings
    from drivers.mlx90614 import raw_to_cc
    return thermo.classify([(raw_to_cc(obj_raw), raw_to_cc(amb_raw))] * 5,
                           thermo.Params.from_settings(s if s is not None else Settings()))


def raw_pair(body_cc, s=None):
    """(object word, ambient word), ambient near 22 C, that the gate measures as exactly
    body_cc (fever tests build their readings from raw words, never from float literals)."""
    from app import thermo
    for amb_raw in range(AMB_RAW, AMB_RAW + 40):
        for obj_raw in range((body_cc + 27315 - 600) // 2, (body_cc + 27315) // 2 + 300):
            r = from_raw(obj_raw, amb_raw, s)
            if isinstance(r, thermo.Reading):
                if r.body_cc == body_cc:
                    return obj_raw, amb_raw
                if r.body_cc > body_cc:
                    break  # the body grows with the object word: next ambient
    raise ValueError("no raw word pair gives %d cC" % body_cc)


def reading(body_cc, s=None):
    """A measured Reading whose compensated body temperature is exactly body_cc."""
    return from_raw(*raw_pair(body_cc, s), s=s)


def decide_plain(p, temp, direction, now, trusted, sdict, revoked, quarantined, last, isolated=(),
                 visit=0):
    """policy.decide from plain values (for CPython-vs-MicroPython batches).

    p: int code or (role, cti, nbf, exp, (b, e, r), dirs); temp: int code, None (a
    Reading without body) or (object word, ambient word) raw from the MLX90614, measured
    with the settings' compensation; last: None or (direction, unix) for p's pass id;
    isolated: [(pid, end)]; visit: p's state in the visitor table (app.visits NONE..FULL).
    Returns (allow, reason, detail, unlock_s, alarm, urgent, flagged, retry, beep).
    """
    from app import policy, record
    from app.settings import Settings
    if not isinstance(p, int):
        p = FakePass(role=p[0], cti=p[1], nbf=p[2], exp=p[3], unit=p[4], dirs=p[5])
    if temp is None:
        temp = policy.Reading(None)
    elif isinstance(temp, tuple):
        temp = from_raw(temp[0], temp[1], Settings(sdict))
    apb = FakeApb()
    if last is not None and not isinstance(p, int):
        apb.record(record.pass_id(p.cti), last[0], last[1])
    vis = FakeVisits()
    if not isinstance(p, int):
        vis = FakeVisits({record.pass_id(p.cti): visit} if visit < 3 else {}, visit == 3)
    d = policy.decide(p, temp, direction, now, trusted, Settings(sdict),
                      FakeLists(revoked, quarantined, [tuple(x) for x in isolated]), apb, vis)
    return (d.allow, d.reason, d.detail, d.unlock_s, d.alarm, d.urgent, d.flagged, d.retry, d.beep)
