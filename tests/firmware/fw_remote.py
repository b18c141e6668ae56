"""Remote commands (app/remote.py) on CPython, wasm and unix MicroPython: each command
signed, bound to this device, time-limited and never run twice (seq persisted before it
runs); lockdown and emergency release survive a reboot; every command is logged with
who asked."""
import json
import struct

from app import record, remote, uplink
from app.clock import Clock
from app.eventlog import EventLog
from app.settings import Settings

from core_doubles import NOW, VirtualClock, tmpdir

SECRET = b"\x5a" * 32
DEV = "gate-1"


class Relay:
    def __init__(self):
        self.held = 0
        self.unlocks = []

    def unlock(self, ms=None):
        self.unlocks.append(ms)

    def hold(self, bit):
        self.held |= bit

    def release(self, bit):
        self.held &= ~bit


class Gate:
    def __init__(self):
        self.settings = Settings()


class Rig:
    def __init__(self, trusted=True, d=None):
        self.d = d or tmpdir("rc")
        self.wall = VirtualClock(NOW)
        self.clock = Clock(self.d + "/clock", now_fn=self.wall, offset=0)
        if trusted:
            self.clock.set(NOW, 4)
        self.log = EventLog(self.d + "/log", self.clock, seg_records=64, max_segments=4)
        self.relay = Relay()
        self.gate = Gate()
        self.rc = remote.Remote(DEV, SECRET, self.clock, self.d + "/remote.bin", self.log, self.relay, self.gate)

    def reboot(self):
        """A new Remote over the same flash (the device restarted)."""
        self.relay = Relay()
        self.gate = Gate()
        self.rc = remote.Remote(DEV, SECRET, self.clock, self.d + "/remote.bin", self.log, self.relay, self.gate)

    def remote_records(self):
        out = []
        for r in self.log.records():
            t = record.unpack(r)
            if t[2] == record.K_REMOTE:
                seq, by = struct.unpack("<II", t[6])
                out.append((seq, t[10] & 0xFF, t[10] >> 8, by, bool(t[4] & record.F_URGENT)))
        return out


def cmd(seq, kind="open", exp=NOW + 60, by=7, device=DEV, secret=SECRET):
    """A command as the server signs it (host_tools/gatepass/server/remote.py)."""
    sig = uplink.Hmac(secret).hex((remote.mac_text(device, seq, kind, exp, by),))
    return {"seq": seq, "kind": kind, "exp": exp, "by": by, "sig": sig}


def test_open_runs_once_and_is_logged_with_who_asked():
    r = Rig()
    assert r.rc.handle([cmd(1, by=42)]) == [(1, remote.DONE)]
    assert r.relay.unlocks == [None] and r.rc.seq == 1
    # the same command again (a resent or replayed answer): refused, logged, urgent
    assert r.rc.handle([cmd(1, by=42)]) == [(1, remote.REPLAY)]
    assert r.relay.unlocks == [None]
    assert r.remote_records() == [(1, remote.C_OPEN, remote.DONE, 42, False),
                                  (1, remote.C_OPEN, remote.REPLAY, 42, True)]


def test_replay_refused_across_a_reboot_and_older_seqs_too():
    r = Rig()
    r.rc.handle([cmd(5)])
    r.reboot()
    assert r.rc.seq == 5
    assert r.rc.handle([cmd(5), cmd(3), cmd(6)]) == [(5, remote.REPLAY), (3, remote.REPLAY), (6, remote.DONE)]
    assert len(r.relay.unlocks) == 1


def test_signature_binds_device_kind_expiry_and_user():
    r = Rig()
    good = cmd(1)
    for bad in (cmd(1, device="gate-2"), cmd(1, secret=b"\x01" * 32), dict(good, kind="release"),
                dict(good, exp=NOW + 120), dict(good, by=1), dict(good, seq=2),
                dict(good, sig=good["sig"][:-1] + ("0" if good["sig"][-1] != "0" else "1"))):
        assert r.rc.handle([bad])[0][1] == remote.BAD_SIG, bad
    assert r.relay.unlocks == [] and r.rc.seq == 0
    assert all(u for (_, _, res, _, u) in r.remote_records())  # refusals are urgent
    assert r.rc.handle([good]) == [(1, remote.DONE)]


def test_time_limits():
    r = Rig()
    assert r.rc.handle([cmd(1, exp=NOW - 1)]) == [(1, remote.EXPIRED)]
    assert r.rc.handle([cmd(2, exp=NOW + remote.MAX_TTL_S + 1)]) == [(2, remote.EXPIRED)]
    assert r.rc.handle([cmd(3, exp=NOW)]) == [(3, remote.DONE)]
    u = Rig(trusted=False)  # no trusted time: an expiry cannot be judged
    assert u.rc.handle([cmd(1)]) == [(1, remote.NO_TIME)] and u.relay.unlocks == []
    assert u.rc.seq == 0  # not consumed: the same command works once the clock is set


def test_lockdown_and_release_persist_until_cleared():
    r = Rig()
    r.rc.handle([cmd(1, "lockdown"), cmd(2, "release")])
    assert r.gate.settings.lockdown and r.relay.held == remote.HOLD_REMOTE
    r.reboot()
    assert r.gate.settings.lockdown and r.relay.held == remote.HOLD_REMOTE
    r.gate.settings = Settings()  # a new bundle's settings
    r.rc.reapply()
    assert r.gate.settings.lockdown
    r.rc.handle([cmd(3, "lockdown_off"), cmd(4, "release_off")])
    assert not r.gate.settings.lockdown and r.relay.held == 0
    r.reboot()
    assert not r.gate.settings.lockdown and r.relay.held == 0
    kinds = [(k, res, urgent) for (_, k, res, _, urgent) in r.remote_records()]
    assert kinds == [(remote.C_LOCKDOWN, 0, True), (remote.C_RELEASE, 0, True), (remote.C_LOCKDOWN_OFF, 0, False),
                     (remote.C_RELEASE_OFF, 0, False)]


def test_reboot_is_delayed_then_due():
    import time

    r = Rig()
    assert not r.rc.reboot_due()
    r.rc.handle([cmd(1, "reboot")])
    assert r.rc.reboot_at is not None
    assert time.ticks_diff(r.rc.reboot_at, time.ticks_ms()) > remote.REBOOT_MS - 1000


def test_junk_never_raises_and_unknown_kinds_are_refused():
    r = Rig()
    junk = [None, 1, "x", {}, {"seq": "1"}, {"seq": 1, "kind": "open", "exp": NOW, "by": 1, "sig": 5},
            {"seq": True, "kind": "open", "exp": NOW, "by": 1, "sig": "0" * 64},
            {"seq": 0, "kind": "open", "exp": NOW, "by": 1, "sig": "0" * 64}]
    res = r.rc.handle(junk)
    assert [x[1] for x in res] == [remote.MALFORMED] * len(junk)
    assert r.rc.handle("not a list") == []
    assert r.rc.handle([cmd(1, "self_destruct")]) == [(1, remote.UNKNOWN)]
    assert len(r.rc.handle([cmd(10 + i) for i in range(20)])) == remote.MAX_PER_ANSWER


def test_a_damaged_state_file_starts_from_zero():
    r = Rig()
    r.rc.handle([cmd(9, "lockdown")])
    with open(r.d + "/remote.bin", "r+b") as f:
        f.seek(1)
        f.write(b"\xff")
    r.reboot()
    assert r.rc.seq == 0 and not r.gate.settings.lockdown


def test_heartbeat_reports_seq_and_answers_feed_the_commands():
    from fw_uplink import Rig as UpRig

    u = UpRig()
    rc = remote.Remote("gate-1", b"k" * 32, u.clock, tmpdir("rcu") + "/remote.bin", u.log, Relay(), Gate())
    u.up.commands = rc
    req = u.up.status_request()
    assert json.loads(req.body())["cmd_seq"] == 0
    c = cmd(1, exp=NOW + 60, secret=b"k" * 32, device="gate-1")
    st, h, body = u.answer(req, 200, {"time": NOW, "bundle_version": 0, "acked_seq": u.log.acked, "commands": [c]})
    assert u.up.handle(req, st, h, body, 0, 0) == uplink.OK
    assert rc.seq == 1 and rc.relay.unlocks == [None]
    nxt = u.up.next_request(1000)
    assert nxt.kind == uplink.REQ_STATUS and json.loads(nxt.body())["cmd_seq"] == 1  # reported at once
    # an answer whose signature does not verify carries nothing
    req = u.up.status_request()
    st, h, body = u.answer(req, 200, {"time": NOW, "bundle_version": 0, "acked_seq": u.log.acked,
                                      "commands": [cmd(2, secret=b"k" * 32)]})
    h = {"x-gatepass-signature": "0" * 64}
    assert u.up.handle(req, st, h, body, 0, 0) == uplink.BAD_MAC and rc.seq == 1


def test_a_command_the_gate_refuses_does_not_start_a_heartbeat_storm():
    """The server sends a command again in every heartbeat answer until the device
    reports its seq or the command expires (server TTL 5 min). A refused one (a kind this
    firmware does not know, an expiry out of range) leaves the seq where it was: asking
    again at once was a heartbeat every round trip, all answered 200 with the same
    command, each refusal an urgent record, and the events waited behind them."""
    from fw_uplink import Rig as UpRig

    u = UpRig()
    up = u.up
    rc = remote.Remote("gate-1", b"k" * 32, u.clock, tmpdir("rcs") + "/remote.bin", u.log, Relay(), Gate())
    up.commands = rc
    u.passage(1)
    refused = [cmd(1, "self_destruct", secret=b"k" * 32), cmd(2, exp=NOW + 3600, secret=b"k" * 32)]
    sent = []
    now = 0
    while now < 120000:  # two minutes of the uplink's decisions, the server resending both
        req = up.next_request(now)
        if req is None:
            now += 1000
            continue
        sent.append(req.kind)
        if req.kind == uplink.REQ_STATUS:
            st, h, body = u.answer(req, 200, {"time": NOW, "bundle_version": 0, "acked_seq": u.log.acked,
                                              "commands": refused})
        else:
            st, h, body = u.answer(req, 200, {"acked_seq": req.last, "time": NOW, "bundle_version": 0})
        assert up.handle(req, st, h, body, 10, now) == uplink.OK
        now += 10
    assert rc.seq == 0 and rc.relay.unlocks == []
    # the normal cadence (status_ms 60 s): three heartbeats in two minutes, not thousands
    assert sent.count(uplink.REQ_STATUS) <= 3, (sent.count(uplink.REQ_STATUS), len(sent))
    assert uplink.REQ_EVENTS in sent and u.log.pending() == 0
    # an accepted command is still reported at once
    req = up.status_request()
    st, h, body = u.answer(req, 200, {"time": NOW, "bundle_version": 0, "acked_seq": u.log.acked,
                                      "commands": [cmd(3, secret=b"k" * 32)]})
    assert up.handle(req, st, h, body, 0, now) == uplink.OK and rc.seq == 3
    assert up.next_request(now + 1).kind == uplink.REQ_STATUS
