"""The gate state machine's core on CPython and MicroPython: real passes (host-issued
vectors), the real verifier, policy, event log, lists and anti-passback files; the relay,
indicator and scanner are small recording doubles."""
import struct

import fwenv
import passkeys
import passvectors as V
from app import clock, gate, policy, reasons, record, roles, thermo
from app.eventlog import EventLog
from app.lists import Lists, Passback, write_revoked
from app.settings import Settings

from core_doubles import VirtualClock, tmpdir
from core_doubles import reading as raw_reading

VALID = V.VALID[0][1]  # resident 3-1-1203, both directions, label "Wang 1203"
MEDICAL = V.VALID[1][1]  # medical, in only, no unit


class Relay:
    def __init__(self):
        self.locked = True
        self.ops = []

    def unlock(self, ms):
        self.ops.append(("unlock", ms))
        self.locked = False

    def lock(self):
        self.ops.append("lock")
        self.locked = True

    def safe(self):
        self.ops.append("safe")
        self.locked = True


class Indicator:
    def __init__(self):
        self.shown = []

    def show(self, kind, l1, l2, msg=None, extra=""):
        self.shown.append((kind, l1, l2))

    def text(self, l1, l2):
        self.shown.append((0, l1, l2))

    def off(self):
        self.shown.append((0, "", ""))


def make(direction=roles.IN, s=None, trusted=True, read=None, log=None, lists=None):
    d = tmpdir("gate")
    port = VirtualClock(V.NOW)
    c = clock.Clock(d + "/clock", now_fn=port, offset=0)
    if trusted:
        c.set(V.NOW, clock.SRC_SERVER)
    lg = log if log is not None else EventLog(d + "/log", c, seg_records=64, max_segments=4)
    g = gate.Gate(direction, V.COMMUNITY, passkeys.TRUSTED, s or Settings(), lg, c,
                  lists if lists is not None else Lists(d), Passback(d + "/pb.bin", slots=64),
                  Relay(), Indicator(), None, read)
    g.dir = d
    return g


def reading(body_cc=3660):
    """A reading as the thermometer step gives it (integer centi-degrees C); fever
    readings come from raw sensor words (core_doubles.reading)."""
    return thermo.Reading(body_cc, body_cc - 130, 2200)


def records(g):
    return [record.unpack(r) for r in g.log.records()]


def run(coro):
    """Run a coroutine to the end: CPython's loop, or on MicroPython by stepping it
    (its asyncio needs the JavaScript event loop; sleeps just return when stepped)."""
    import asyncio

    if fwenv.RUNTIME == "cpython":
        return asyncio.run(coro)
    # the wasm port's sleep_ms arms a JavaScript timer that would fire after this run
    # into a finished instance: sleep by yielding instead (a generator is awaitable here)
    real = asyncio.sleep_ms
    asyncio.sleep_ms = _yield_once
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value
    finally:
        asyncio.sleep_ms = real


def _yield_once(ms):
    yield


# ---- one passage -------------------------------------------------------------------------


def test_valid_pass_unlocks_after_the_record_is_written():
    g = make()
    ps = g.passage_now(VALID, reading(3660))
    d = ps.decision
    assert d.allow and d.reason == reasons.OK
    assert g.relay.ops == [("unlock", 5000)]
    r = records(g)[-1]
    assert r[0] == ps.seq and r[2] == record.K_PASSAGE and r[3] == reasons.OK
    assert r[4] == record.F_ALLOWED | record.F_IN | record.F_TIME_TRUSTED
    assert r[5] == roles.RESIDENT and r[6] == record.pass_id(ps.p.cti)
    assert r[7] == 3660 and r[8] == 3530 and r[9] == 2200
    assert g.apb.last(record.pass_id(ps.p.cti)) == (roles.IN, V.NOW)
    assert g.indicator.shown[-1] == (gate.SHOW_ALLOW, "Welcome", "36.6 C")
    assert g.state == gate.DOOR


def test_every_rejected_pass_is_denied_without_touching_the_relay():
    g = make()
    for name, text, why in V.REJECT:
        ps = g.passage_now(text, reading())
        assert not ps.decision.allow, name
        assert ps.decision.reason == getattr(reasons, why), (name, ps.decision)
        assert records(g)[-1][3] == ps.decision.reason
    assert g.relay.ops == []
    assert all(s[0] == gate.SHOW_DENY for s in g.indicator.shown)


def test_scanner_rejections_are_malformed():
    g = make()
    for code in (1, 2, 3):  # qrscanner TOO_LONG, NOT_TEXT, TRUNCATED
        assert g.passage_now(code, reading()).decision.reason == reasons.MALFORMED
    assert g.relay.ops == []


def test_fever_alarms_whatever_the_pass():
    g = make()
    urgent = []
    g.on_urgent = urgent.append
    ps = g.passage_now("GP1:XYZ", raw_reading(3820))
    assert ps.decision.reason == reasons.FEVER and ps.decision.detail == reasons.MALFORMED
    assert g.indicator.shown[-1][0] == gate.SHOW_FEVER
    assert urgent == [ps.seq] and g.relay.ops == []
    r = records(g)[-1]
    assert r[4] & record.F_URGENT and r[4] & record.F_ALARM and r[10] == reasons.MALFORMED


def test_second_entry_is_refused_by_anti_passback():
    g = make()
    assert g.passage_now(VALID, reading()).decision.allow
    g.relay.locked = True
    ps = g.passage_now(VALID, reading())
    assert ps.decision.reason == reasons.PASSBACK and len(g.relay.ops) == 1


def test_untrusted_clock_skips_the_validity_window_and_flags():
    g = make(trusted=False)
    ps = g.passage_now(VALID, reading())
    assert ps.decision.reason == reasons.OK_TIME_UNTRUSTED
    assert not records(g)[-1][4] & record.F_TIME_TRUSTED


def test_revoked_and_exit_direction():
    g = make(direction=roles.OUT)
    p = g.check(VALID)
    write_revoked(g.dir, [p.cti])
    assert g.passage_now(VALID, reading()).decision.reason == reasons.REVOKED
    assert g.passage_now(MEDICAL, reading()).decision.reason == reasons.DIRECTION_NOT_ALLOWED
    assert g.relay.ops == []


class FullLog:
    """A log under the "stop" policy with no room left."""

    full_policy = 0
    near_pct = 80

    def __init__(self):
        self.system = []

    def append(self, kind, *a):
        if kind == record.K_PASSAGE:
            return 0
        self.system.append(kind)
        return len(self.system)

    def last_time(self):
        return 0


def test_a_passage_the_log_cannot_hold_never_opens():
    g = make(log=FullLog())
    ps = g.passage_now(VALID, reading())
    assert ps.decision.reason == reasons.LOG_FULL and ps.decision.detail == reasons.OK
    assert ps.seq == 0 and g.relay.ops == []
    assert g.indicator.shown[-1][0] == gate.SHOW_FAULT


class BrokenLists:
    def is_revoked(self, pid):
        raise RuntimeError("flash read failed")

    def is_quarantined(self, b, e, r):
        return False


def test_an_exception_locks_the_relay_and_is_logged():
    g = make(lists=BrokenLists())
    ps = g.passage_now(VALID, reading())
    assert ps.decision.reason == reasons.INTERNAL_ERROR
    assert g.relay.ops == ["safe"] and g.state == gate.IDLE
    r = records(g)[-1]
    assert r[2] == record.K_ERROR and r[10] == reasons.INTERNAL_ERROR and r[6] == record.pass_id(ps.p.cti)
    assert g.counts["errors"] == 1 and g.indicator.shown[-1][1] == "Device error"


# ---- system events -------------------------------------------------------------------------


def test_boot_logs_the_reset_cause_and_missing_devices():
    g = make()
    g.boot(3, [("sensor", "not found"), ("display", "no ssd1306")])
    rs = records(g)
    assert [(r[2], r[10]) for r in rs[-3:]] == [(record.K_BOOT, 3), (record.K_SENSOR_FAULT, 0x0000),
                                                (record.K_SENSOR_FAULT, 0x0200)]
    assert rs[-2][4] & record.F_URGENT and not rs[-1][4] & record.F_URGENT


def test_set_time_logs_the_step():
    g = make(trusted=False)
    old = g.clock.now()
    step = g.set_time(V.NOW + 100, clock.SRC_NTP)
    r = records(g)[-1]
    assert r[2] == record.K_TIME_SET and r[10] == clock.SRC_NTP
    assert struct.unpack("<iI", r[6]) == (step, old) and step == V.NOW + 100 - old


def test_door_alarms_and_relock_on_close():
    g = make()
    g.on_door(gate.DOOR_FORCED)
    g.on_door(gate.DOOR_CLOSED)
    g.on_door(gate.DOOR_HELD)
    rs = records(g)
    assert [r[2] for r in rs[-3:]] == [record.K_DOOR_FORCED, record.K_DOOR_CLOSED, record.K_DOOR_HELD]
    assert rs[-3][4] & record.F_URGENT and rs[-3][4] & record.F_ALARM
    g.passage_now(VALID, reading())
    g.on_door(gate.DOOR_OPENED)
    g.on_door(gate.DOOR_CLOSED)
    assert g.relay.ops[-2:] == [("unlock", 5000), "lock"]


class FakeBundle:
    version = 9

    def make_settings(self):
        return Settings({"mode": "control", "unlock_s": 7, "log_full": "stop"})

    def issuer_keys(self):
        return {}


def test_apply_bundle_swaps_settings_and_keeps_keys():
    g = make()
    keys = g.keys
    g.apply_bundle(FakeBundle())
    assert g.bundle_version == 9 and g.settings.mode == 1 and g.keys is keys
    assert g.log.full_policy == 0
    assert g.passage_now(VALID, reading()).decision.unlock_s == 7


# ---- measuring -----------------------------------------------------------------------------


def test_measure_waits_for_the_person_then_reads():
    calls = [0]

    def read():
        calls[0] += 1
        return (3521, 2201) if calls[0] > 7 else (2211, 2201)  # steps up after a while

    g = make(read=read)
    p = g.check(VALID)
    temp = run(g.measure(p)) if fwenv.RUNTIME == "cpython" else run(g._measure(p))
    assert isinstance(temp, thermo.Reading) and temp.body_cc == 3521 + 132
    assert (gate.SHOW_BUSY, "Come closer", "") in g.indicator.shown


def test_measure_once_for_a_pass_that_would_be_refused_anyway():
    calls = [0]

    def read():
        calls[0] += 1
        return (2211, 2201)

    g = make(read=read)
    temp = run(g._measure(reasons.BAD_SIGNATURE))
    assert temp == reasons.NO_READING and calls[0] == g.params.samples


def test_measure_without_a_thermometer_is_a_fault():
    g = make(read=None)
    assert run(g._measure(g.check(VALID))) == reasons.SENSOR_FAULT


def test_display_lines_fit_sixteen_columns():
    assert gate.wrap("Welcome", "36.6 C") == ("Welcome", "36.6 C")
    assert gate.wrap("Fever - staff called", "38.2 C") == ("Fever - staff", "called 38.2 C")
    for code in range(0, 50):
        a, b = gate.wrap(reasons.message(code), "36.6 C")
        assert len(a) <= 16 and len(b) <= 16, (code, a, b)
    assert policy.Reading(100).body_cc == 100
    assert gate.show_cc(3729) == "37.2 C" and gate.show_cc(3730) == "37.3 C"  # cut, never up
    assert gate.show_cc(-5) == "-0.0 C" and gate.show_cc(-125) == "-1.2 C"
