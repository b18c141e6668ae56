"""Signed bundles on the device (firmware/app/bundle.py) against bundles built by the
server's own code (host_tools/gatepass/issuing/bundles.py): verify, reject, store atomically,
apply, and the gate's next decision follows the new bundle."""
from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from app import bundle, lists, policy, reasons, record, roles, settings as fwsettings
from app.clock import Clock
from app.eventlog import EventLog
from app.gate import Gate
from gatepass.issuing import bundles, passes as issue, keys

COMMUNITY = "maple"
NOW = int(time.time())


@pytest.fixture(scope="module")
def bkey():
    return keys.from_scalar(0x1234567, kid=b"bundle-1")


@pytest.fixture(scope="module")
def ikey():
    return keys.from_scalar(0x7654321, kid=b"issuer-1")


def content(ikey, **kw):
    kw.setdefault("community", COMMUNITY)
    kw.setdefault("settings", fwsettings.validate({}))
    c = bundles.Content(**kw)
    for k in ("mode", "threshold"):
        c.settings.pop(k, None)
    if not c.keys:
        c.keys = [(ikey.kid, ikey.pub65)]
    return c


class Device:
    """The flash of one gate: log, clock, lists dir, bundle store, and a Gate."""

    def __init__(self, tmp, bkey, ikey, direction=roles.IN):
        os.makedirs(tmp, exist_ok=True)
        self.dir = str(tmp)
        self.clock = Clock(self.dir + "/clock", offset=0)
        self.clock.set(NOW, 1)
        self.log = EventLog(self.dir + "/log", self.clock, seg_records=100, max_segments=4)
        self.store = bundle.Store(self.dir, {bkey.kid: bkey.pub65}, COMMUNITY, self.log)
        from app import p256

        self.gate = Gate(direction, COMMUNITY, {ikey.kid: p256.PublicKey(ikey.pub65)},
                         fwsettings.Settings(), self.log, self.clock, lists.Lists(self.dir),
                         lists.Passback(self.dir + "/passback.bin", 64))
        self.store.on_prepare.append(self.gate.prepare_bundle)

    def bundle_records(self):
        return [record.decode(r) for r in self.log.records() if r[8] == record.K_BUNDLE]

    def files(self):
        out = {}
        for n in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, n)
            if os.path.isfile(p) and n != "clock":
                out[n] = open(p, "rb").read()
        return out


def make_pass(ikey, unit=(3, 1, 1203), role=0, cti=None):
    spec = issue.new_spec(COMMUNITY, role, unit, "in,out", nbf=NOW - 86400, exp=NOW + 30 * 86400,
                          cti=cti)
    return issue.issue(ikey, spec)


def test_applied_bundle_writes_lists_settings_and_logs(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    revoked = [b"\x09" * 12, b"\x01" * 9, b"\x05" * 8]
    data = bundles.build(bkey, content(ikey, mode=1, threshold_cc=3750, revoked=revoked,
                                       quarantined=[(7, 0, 0), (3, 1, 1203)],
                                       settings={"unlock_s": 7, "comp_k_pm": 120, "passback": "soft"}),
                         5, NOW)
    assert dev.store.apply(data) == (bundle.APPLIED, 5)
    assert dev.store.version == 5
    # lists as the lookup expects them: sorted fixed-width keys
    assert open(tmp_path / "revoked.bin", "rb").read() == b"\x01" * 8 + b"\x05" * 8 + b"\x09" * 8
    assert open(tmp_path / "quarantine.bin", "rb").read() == (
        struct.pack(">HHH", 3, 1, 1203) + struct.pack(">HHH", 7, 0, 0))
    assert open(tmp_path / bundle.CURRENT, "rb").read() == data
    assert not os.path.exists(tmp_path / bundle.NEW)
    lk = lists.Lists(str(tmp_path))
    assert lk.is_revoked(b"\x05" * 8) and not lk.is_revoked(b"\x06" * 8)
    assert lk.is_quarantined(7, 4, 5) and lk.is_quarantined(3, 1, 1203) and not lk.is_quarantined(3, 1, 1204)
    # the gate took the settings over
    s = dev.gate.settings
    assert (s.mode, s.threshold_cc, s.unlock_s, s.passback) == (1, 3750, 7, fwsettings.PASSBACK_SOFT)
    assert s.comp_k_pm == 120 and dev.gate.bundle_version == 5
    (r,) = dev.bundle_records()
    assert (r["reason"], r["aux"], r["urgent"]) == (0, 5, False)


def test_tampered_bundle_is_rejected_logged_and_changes_nothing(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    good = bundles.build(bkey, content(ikey, revoked=[b"A" * 8]), 2, NOW)
    assert dev.store.apply(good)[0] == bundle.APPLIED
    before = dev.files()
    settings_before = dev.gate.settings.to_dict()
    newer = bundles.build(bkey, content(ikey, revoked=[b"A" * 8, b"B" * 8], mode=2), 3, NOW)
    i = newer.index(b"BBBBBBBB")
    tampered = newer[:i] + b"C" + newer[i + 1:]  # a revoked id changed: signature breaks
    forged_sig = newer[:-1] + bytes([newer[-1] ^ 1])
    other_key = bundles.build(keys.from_scalar(99, kid=bkey.kid), content(ikey, mode=2), 3, NOW)
    unknown_kid = bundles.build(keys.from_scalar(99, kid=b"someone"), content(ikey, mode=2), 3, NOW)
    for data, code in ((tampered, bundle.BAD_SIGNATURE), (forged_sig, bundle.BAD_SIGNATURE),
                       (other_key, bundle.BAD_SIGNATURE), (unknown_kid, bundle.UNKNOWN_KID),
                       (b"\xd2\x84garbage", bundle.MALFORMED), (newer[:-10], bundle.MALFORMED)):
        code_got, _ = dev.store.apply(data)
        assert code_got == code
        assert dev.files() == before and dev.gate.settings.to_dict() == settings_before
        assert dev.store.version == 2
    recs = dev.bundle_records()
    assert [r["reason"] for r in recs] == [0, 12, 12, 12, 11, 10, 10]
    assert all(r["urgent"] for r in recs[1:])  # staff see tampering at once
    assert dev.store.rejected == 6
    assert dev.store.apply(newer) == (bundle.APPLIED, 3)  # the genuine one still goes in


def test_older_or_equal_version_and_other_community_rejected(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    assert dev.store.apply(bundles.build(bkey, content(ikey, mode=1), 10, NOW))[0] == bundle.APPLIED
    for v in (10, 9, 1):
        old = bundles.build(bkey, content(ikey, mode=0), v, NOW + 100)  # validly signed replay
        assert dev.store.apply(old) == (bundle.OLD_VERSION, v)
    assert dev.gate.settings.mode == 1 and dev.store.version == 10
    other = bundles.build(bkey, content(ikey, community="elm"), 11, NOW)
    assert dev.store.apply(other)[0] == bundle.WRONG_COMMUNITY
    recs = dev.bundle_records()
    assert [(r["reason"], r["aux"]) for r in recs] == [(0, 10), (43, 10), (43, 9), (43, 1), (13, 11)]  # 43 STALE_BUNDLE
    assert not any(r["urgent"] for r in recs[1:4])  # a replay is noted, not alarmed


def test_signed_but_invalid_settings_are_rejected(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    c = content(ikey)
    c.settings["unlock_s"] = 999  # the server validates too; the device never trusts that
    data = bundles.sign(bkey, bundles._dumps({**c.normalized(), 1: 4, 2: NOW}))
    assert dev.store.apply(data)[0] == bundle.MALFORMED
    assert dev.store.version == 0 and not os.path.exists(tmp_path / bundle.CURRENT)
    # unknown setting names from a newer server are left out, the rest applies
    c = content(ikey)
    c.settings["future_knob"] = 3
    data = bundles.sign(bkey, bundles._dumps({**c.normalized(), 1: 4, 2: NOW}))
    assert dev.store.apply(data) == (bundle.APPLIED, 4)


def test_power_cut_during_apply_rolls_forward_at_boot(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    v1 = bundles.build(bkey, content(ikey, revoked=[b"A" * 8]), 1, NOW)
    assert dev.store.apply(v1)[0] == bundle.APPLIED
    v2 = bundles.build(bkey, content(ikey, revoked=[b"B" * 8], mode=2), 2, NOW)
    # the cut came after bundle.new was written, before the lists and the rename
    (tmp_path / bundle.NEW).write_bytes(v2)
    s2 = bundle.Store(str(tmp_path), {bkey.kid: bkey.pub65}, COMMUNITY, dev.log)
    b = s2.load()
    assert b.version == 2 and b.mode == 2
    assert open(tmp_path / "revoked.bin", "rb").read() == b"B" * 8
    assert open(tmp_path / bundle.CURRENT, "rb").read() == v2 and not (tmp_path / bundle.NEW).exists()
    # a torn bundle.new (cut while writing it) is dropped; the old bundle stays
    v3 = bundles.build(bkey, content(ikey, revoked=[b"C" * 8]), 3, NOW)
    (tmp_path / bundle.NEW).write_bytes(v3[: len(v3) // 2])
    s3 = bundle.Store(str(tmp_path), {bkey.kid: bkey.pub65}, COMMUNITY, dev.log)
    assert s3.load().version == 2 and not (tmp_path / bundle.NEW).exists()
    assert open(tmp_path / "revoked.bin", "rb").read() == b"B" * 8
    # a forged bundle.new planted on the flash is not applied either
    forged = v3[:-1] + bytes([v3[-1] ^ 1])
    (tmp_path / bundle.NEW).write_bytes(forged)
    assert bundle.Store(str(tmp_path), {bkey.kid: bkey.pub65}, COMMUNITY).load().version == 2


def test_new_bundle_changes_the_next_decision_at_the_gate(tmp_path, bkey, ikey):
    din = Device(tmp_path / "in", bkey, ikey, roles.IN)
    dout = Device(tmp_path / "out", bkey, ikey, roles.OUT)
    alice = make_pass(ikey, (3, 1, 1203))
    bob = make_pass(ikey, (5, 2, 501))
    medic = make_pass(ikey, (0, 0, 0), role=roles.MEDICAL)
    ok = policy.Reading(3660, 3500, 2200)

    def out(dev, p):
        return dev.gate.passage_now(p.text, ok).decision

    assert out(dout, bob).reason == reasons.OK and out(din, alice).reason == reasons.OK
    # revocation
    data = bundles.build(bkey, content(ikey, revoked=[alice.spec.cti]), 2, NOW)
    assert din.store.apply(data)[0] == 0 and dout.store.apply(data)[0] == 0
    assert out(din, alice).reason == reasons.REVOKED
    # quarantine of bob's building: bob may not go out; alice still... revoked
    data = bundles.build(bkey, content(ikey, quarantined=[(5, 0, 0)]), 3, NOW)
    assert dout.store.apply(data)[0] == 0
    d = out(dout, bob)
    assert d.reason == reasons.QUARANTINED and not d.allow
    assert out(dout, medic).allow  # on-duty medical staff are exempt
    # mode change: sealed -> residents may not go out, exempt roles may
    data = bundles.build(bkey, content(ikey, mode=2), 4, NOW)
    assert dout.store.apply(data)[0] == 0
    assert dout.gate.settings.mode == fwsettings.MODE_SEALED
    assert out(dout, bob).reason == reasons.MODE_SEALED
    assert out(dout, medic).allow
    # threshold change reaches the fever decision
    data = bundles.build(bkey, content(ikey, threshold_cc=3600), 5, NOW)
    assert din.store.apply(data)[0] == 0
    d = din.gate.passage_now(bob.text, policy.Reading(3620, 3500, 2200)).decision
    assert d.reason == reasons.FEVER


def test_issuer_key_rotation_through_a_bundle(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    new_issuer = keys.from_scalar(0xABCDEF, kid=b"issuer-2")
    p_new = make_pass(new_issuer)
    p_old = make_pass(ikey)
    ok = policy.Reading(3660, 3500, 2200)
    assert dev.gate.passage_now(p_new.text, ok).decision.reason == reasons.UNKNOWN_KID
    data = bundles.build(bkey, content(ikey, keys=[(new_issuer.kid, new_issuer.pub65)]), 2, NOW)
    assert dev.store.apply(data)[0] == 0
    assert dev.gate.passage_now(p_new.text, ok).decision.allow
    assert dev.gate.passage_now(p_old.text, ok).decision.reason == reasons.UNKNOWN_KID


@hsettings(max_examples=25, deadline=None)
@given(revoked=st.lists(st.binary(min_size=8, max_size=16), max_size=40),
       units=st.lists(st.tuples(st.integers(1, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
                      .map(lambda u: (u[0], u[1], u[2] if u[1] else 0)), max_size=20),
       mode=st.integers(0, 2), thr=st.integers(3500, 4000), version=st.integers(1, 2**32 - 1))
def test_device_decodes_what_the_server_builds(bkey, ikey, revoked, units, mode, thr, version):
    c = content(ikey, revoked=revoked, quarantined=units, mode=mode, threshold_cc=thr)
    data = bundles.build(bkey, c, version, NOW)
    b = bundle.decode(data, {bkey.kid: bkey.pub65})
    ref = bundles.verify(data, {bkey.kid: bkey.pub65})
    assert b.version == version == ref[1] and b.mode == mode and b.threshold_cc == thr
    assert b.revoked_ids() == ref[6] and sorted(b.quarantined) == sorted(tuple(u) for u in ref[7])
    s = b.make_settings()
    assert s.mode == mode and s.threshold_cc == thr
    assert s.to_dict()["comp_k_pm"] == ref[8]["comp_k_pm"]


def test_micropython_verifies_and_decodes_a_server_bundle(mpy, bkey, ikey):
    data = bundles.build(bkey, content(ikey, revoked=[b"Z" * 8, b"A" * 10], quarantined=[(2, 0, 0)],
                                       mode=1, settings={"comp_k_pm": 150, "unlock_s": 4}), 7, NOW)
    tampered = data[:-1] + bytes([data[-1] ^ 0x80])
    code = """
from app import bundle
keys = {%r: %r}
b = bundle.decode(%r, keys)
s = b.make_settings()
print(b.version, b.mode, b.revoked_count(), b.quarantined, s.unlock_s, s.comp_k_pm // 10, s.threshold_cc)
try:
    bundle.decode(%r, keys)
    print('accepted')
except bundle.BundleError as e:
    print('rejected', e.code)
""" % (bkey.kid, bkey.pub65, data, tampered)
    out = mpy.run(code).split("\n")
    assert out[0].strip() == "7 1 2 [(2, 0, 0)] 4 15 3730"
    assert out[1].strip() == "rejected 12"


def test_micropython_store_applies_atomically_and_rejects(mpy, bkey, ikey):
    v2 = bundles.build(bkey, content(ikey, revoked=[b"Z" * 8, b"A" * 10], quarantined=[(2, 0, 0)],
                                     isolated=[(b"I" * 8, NOW + 60), (b"J" * 8, 7)]), 2, NOW)
    v1 = bundles.build(bkey, content(ikey, mode=2), 1, NOW)
    forged = v2[:-1] + bytes([v2[-1] ^ 1])
    code = """
import os
from app import bundle, lists, record
from app.eventlog import EventLog
os.mkdir('/b')
log = EventLog('/b/log', None, seg_records=50, max_segments=4)
st = bundle.Store('/b', {%r: %r}, 'maple', log)
print(st.apply(%r), st.apply(%r), st.apply(%r))
lk = lists.Lists('/b')
print(lk.is_revoked(b'AAAAAAAA'), lk.is_revoked(b'ZZZZZZZZ'), lk.is_revoked(b'BBBBBBBB'), lk.is_quarantined(2, 5, 5))
print(lk.isolated_until(b'IIIIIIII'), lk.isolated_until(b'JJJJJJJJ'), lk.isolated_until(b'KKKKKKKK'))
print(sorted(n for n in os.listdir('/b') if not n.startswith('log')))
print([(record.decode(r)['reason'], record.decode(r)['aux'], record.decode(r)['urgent']) for r in log.records()])
st2 = bundle.Store('/b', {%r: %r}, 'maple')
print(st2.load().version)
""" % (bkey.kid, bkey.pub65, forged, v2, v1, bkey.kid, bkey.pub65)
    out = [ln.strip() for ln in mpy.run(code).strip().split("\n")]
    assert out[0] == "(12, 2) (0, 2) (43, 1)"  # 43 STALE_BUNDLE
    assert out[1] == "True True False True"
    assert out[2] == "%d 7 0" % (NOW + 60)  # the isolation list, streamed from the bundle
    assert out[3] == "['bundle.cbor', 'bundle.ver', 'isolation.bin', 'quarantine.bin', 'revoked.bin']"
    assert out[4] == "[(12, 2, True), (0, 2, False), (43, 1, False)]"
    assert out[5] == "2"


# ---- the stored bundle is verified again at boot (issue 12 finding 9, issue 11) -----------


def _forge_payload(bkey, payload: bytes, sig: bytes = bytes(64)) -> bytes:
    """A COSE_Sign1 with bkey's kid around `payload` and an arbitrary signature."""
    protected = bundles._dumps({1: bundles.ALG_ES256, 4: bkey.kid})
    return bundles._dumps(bundles.cbor2.CBORTag(18, [protected, {}, payload, sig]))


def test_bad_stored_bundle_is_ignored_at_boot_and_logged(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    good = bundles.build(bkey, content(ikey, mode=1), 3, NOW)
    assert dev.store.apply(good) == (bundle.APPLIED, 3)
    # someone with the flash in hand writes a zero-signature bundle of version 4e9: it would
    # freeze every later update if it were believed at boot
    huge = bundles._dumps({**content(ikey, mode=2).normalized(), 1: 4_000_000_000, 2: NOW})
    (tmp_path / bundle.CURRENT).write_bytes(_forge_payload(bkey, huge))
    s2 = bundle.Store(str(tmp_path), {bkey.kid: bkey.pub65}, COMMUNITY, dev.log)
    assert s2.load() is None and s2.version == 0
    rec = dev.bundle_records()[-1]
    assert (rec["reason"], rec["aux"], rec["urgent"]) == (bundle.BAD_SIGNATURE, 0xFFFF, True)
    # the real server's next bundle still goes in; an older validly signed one does not
    assert s2.apply(bundles.build(bkey, content(ikey), 2, NOW)) == (bundle.OLD_VERSION, 2)
    assert s2.apply(bundles.build(bkey, content(ikey, mode=2), 4, NOW)) == (bundle.APPLIED, 4)


def test_corrupted_stored_bundle_does_not_reopen_older_versions(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    assert dev.store.apply(bundles.build(bkey, content(ikey, mode=1), 7, NOW))[0] == bundle.APPLIED
    raw = bytearray((tmp_path / bundle.CURRENT).read_bytes())
    raw[len(raw) // 2] ^= 0x40  # one flipped bit on the flash
    (tmp_path / bundle.CURRENT).write_bytes(bytes(raw))
    s2 = bundle.Store(str(tmp_path), {bkey.kid: bkey.pub65}, COMMUNITY, dev.log)
    assert s2.load() is None
    assert dev.bundle_records()[-1]["reason"] in (bundle.BAD_SIGNATURE, bundle.MALFORMED)
    # the old code reset the version to 0 here and took any older bundle again
    assert s2.apply(bundles.build(bkey, content(ikey), 5, NOW)) == (bundle.OLD_VERSION, 5)
    # the same version again repairs the device
    assert s2.apply(bundles.build(bkey, content(ikey, mode=1), 7, NOW)) == (bundle.APPLIED, 7)
    (tmp_path / bundle.CURRENT).write_bytes(b"\xd2\x84")  # truncated
    assert bundle.Store(str(tmp_path), {bkey.kid: bkey.pub65}, COMMUNITY).load() is None


def test_signed_lists_out_of_order_are_rejected(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    m = content(ikey).normalized()
    for bad in ({6: b"B" * 8 + b"A" * 8}, {6: b"A" * 8 + b"A" * 8}, {7: [[3, 0, 0], [2, 0, 0]]}):
        data = bundles.sign(bkey, bundles._dumps({**m, **bad, 1: 2, 2: NOW}))
        assert dev.store.apply(data)[0] == bundle.MALFORMED, bad
    assert dev.store.version == 0


def test_large_bundle_streams_to_sorted_files(tmp_path, bkey, ikey):
    import random

    rnd = random.Random(11)
    ids = [rnd.randbytes(8) for _ in range(20000)]
    units = sorted({(rnd.randint(1, 200), rnd.randint(0, 4), 0) for _ in range(500)})
    data = bundles.build(bkey, content(ikey, revoked=ids, quarantined=units), 2, NOW)
    assert len(data) > 160_000 > 49152  # over the old MAX_BYTES
    dev = Device(tmp_path, bkey, ikey)
    assert dev.store.apply(data) == (bundle.APPLIED, 2)
    assert (tmp_path / "revoked.bin").read_bytes() == b"".join(sorted(ids))
    lk = lists.Lists(str(tmp_path))
    assert all(lk.is_revoked(i) for i in ids[:50]) and not lk.is_revoked(b"\x00" * 8)
    assert lk.quarantine.count() == len(units) and lk.is_quarantined(*units[-1])
    assert dev.store.current.revoked_count() == 20000 and dev.store.current.q_count == len(units)
    # too big for this device's flash budget: refused before anything is written
    small = bundle.Store(str(tmp_path / "small"), {bkey.kid: bkey.pub65}, COMMUNITY, max_bytes=100_000)
    assert small.apply(data)[0] == bundle.MALFORMED


def test_key_tables_are_built_once_and_kept_across_bundles(tmp_path, bkey, ikey):
    dev = Device(tmp_path, bkey, ikey)
    issuer_before = dev.gate.keys[ikey.kid]
    assert dev.store.apply(bundles.build(bkey, content(ikey, mode=1), 2, NOW))[0] == bundle.APPLIED
    bkeys = dict(dev.store._pk)
    assert dev.gate.keys[ikey.kid] is issuer_before  # same issuer key: same table
    assert dev.store.apply(bundles.build(bkey, content(ikey, mode=2), 3, NOW))[0] == bundle.APPLIED
    assert dev.store._pk[bkey.kid] is bkeys[bkey.kid] and dev.gate.keys[ikey.kid] is issuer_before
    other = keys.from_scalar(0xABCDEF, kid=ikey.kid)  # the kid now names another key
    assert dev.store.apply(bundles.build(bkey, content(ikey, keys=[(other.kid, other.pub65)]), 4, NOW))[0] == 0
    assert dev.gate.keys[ikey.kid] is not issuer_before and dev.gate.keys[ikey.kid].pub == other.pub65


def test_apply_is_all_or_nothing_when_the_heap_runs_out(unix_mpy, bkey, ikey):
    """MemoryError injected at every allocation-heavy step of a bundle apply (decode,
    ES256 check, settings, the new issuer key's table, the lists), by leaving more and more
    heap free on the unix port (a fixed heap; the wasm port grows its own): after each
    attempt the store and the gate are both on the new bundle or both on the old one."""
    # six new issuer keys: their tables are the biggest part of applying this bundle
    others = [keys.from_scalar(0x5151515 + i, kid=b"issuer-%d" % (i + 2)) for i in range(6)]
    other = others[0]
    data = bundles.build(bkey, content(ikey, revoked=[b"R" * 8], quarantined=[(3, 1, 0)], mode=1,
                                       settings={"unlock_s": 9},
                                       keys=[(k.kid, k.pub65) for k in others]), 3, NOW)
    code = """
import gc
import fw_gate
from app import bundle, lists
g = fw_gate.make()
st = bundle.Store(g.dir, {%r: %r}, %r, g.log)
st.on_prepare.append(g.prepare_bundle)
DATA = %r
out = []
FREES = [1024, 4096, 16384, 65536] + list(range(131072, 600000, 2048))
for free in FREES:
    gc.collect()
    filler = [None] * 2000
    i = 0
    try:
        while gc.mem_free() > free + 2048 and i < 2000:
            filler[i] = bytearray(2000)
            i += 1
    except MemoryError:
        pass
    err = 'ok'
    try:
        st.apply(DATA)
    except MemoryError:
        err = 'MemoryError'
    filler = None
    gc.collect()
    stored = st.current is not None and st.current.version == 3
    listed = lists.Lists(g.dir).is_revoked(b'RRRRRRRR')
    gate_new = (g.bundle_version == 3 and g.settings.unlock_s == 9 and g.keys.get(%r) is not None
                and g.settings.mode == 1)
    gate_old = g.bundle_version == 0 and g.settings.unlock_s == 5 and g.keys.get(%r) is None
    out.append((free, err, stored, listed, gate_new, gate_old))
    if err == 'ok':
        break
print(repr(out))
""" % (bkey.kid, bkey.pub65, COMMUNITY, data, other.kid, other.kid)
    out = eval(unix_mpy.run(code, heapsize="1M").strip().splitlines()[-1])
    errors = [o for o in out if o[1] == "MemoryError"]
    assert len(errors) >= 10, out  # the sweep really failed at many depths
    assert out[-1][1:] == ("ok", True, True, True, False), out
    for free, err, stored, listed, gate_new, gate_old in out:
        # all or nothing: the gate follows exactly the bundle the store holds
        assert (stored and gate_new) or (not stored and gate_old), (free, err, stored, gate_new)
        assert listed == stored or (not stored and err == "MemoryError"), (free, listed, stored)


def test_isolation_round_trip_exit_refused_until_the_end_then_lifted_without_a_new_bundle(tmp_path, bkey, ikey):
    """Server code builds the isolation list (key 10), the device verifies and stores it
    (isolation.bin, sorted 12-byte entries); the gate refuses the exit until the end time
    and then lets the person out with the same bundle; the next bundle without the entry
    clears it."""
    dev = Device(tmp_path / "out", bkey, ikey, direction=roles.OUT)
    iso_pass = make_pass(ikey, cti=b"iso-0001")
    free_pass = make_pass(ikey, cti=b"free-001")
    end = NOW + 3 * 86400
    data = bundles.build(bkey, content(ikey, isolated=[(b"iso-0001", end), (b"zzzzzzzz", NOW + 5),
                                                       (b"iso-0001", end - 100)]), 2, NOW)
    m = bundles.verify(data, {bkey.kid: bkey.pub65})
    assert bundles.isolated_entries(m) == [(b"iso-0001", end), (b"zzzzzzzz", NOW + 5)]  # latest end wins
    assert dev.store.apply(data) == (bundle.APPLIED, 2)
    assert dev.store.current.isolated() == [(b"iso-0001", end), (b"zzzzzzzz", NOW + 5)]
    raw = open(tmp_path / "out" / "isolation.bin", "rb").read()
    assert raw == b"iso-0001" + end.to_bytes(4, "big") + b"zzzzzzzz" + (NOW + 5).to_bytes(4, "big")
    ok = policy.Reading(3650)
    assert dev.gate.passage_now(iso_pass.text, ok).decision.reason == reasons.ISOLATED
    assert dev.gate.passage_now(free_pass.text, ok).decision.allow
    dev.clock.set(end, 1)  # time passes; no bundle arrives
    assert dev.gate.passage_now(iso_pass.text, ok).decision.allow
    dev.clock.set(NOW, 1)
    # released early on the server: the next bundle does not list it
    assert dev.store.apply(bundles.build(bkey, content(ikey), 3, NOW)) == (bundle.APPLIED, 3)
    assert open(tmp_path / "out" / "isolation.bin", "rb").read() == b""
    assert dev.gate.passage_now(iso_pass.text, ok).decision.allow
    # no isolation: no key 10 at all (older bundles stay byte-identical)
    assert bundles.B_ISOLATED not in bundles.verify(bundles.build(bkey, content(ikey), 4, NOW),
                                                   {bkey.kid: bkey.pub65})


def test_isolation_list_must_be_sorted_unique_and_nonzero(tmp_path, bkey, ikey):
    import cbor2

    dev = Device(tmp_path, bkey, ikey)
    base = content(ikey).normalized()

    def signed(raw, v):
        m = dict(base)
        m[bundles.B_ISOLATED] = raw
        m[bundles.B_VERSION] = v
        m[bundles.B_ISSUED] = NOW
        return bundles.sign(bkey, cbor2.dumps(m, canonical=True))

    e = lambda pid, end: pid + end.to_bytes(4, "big")  # noqa: E731
    for i, raw in enumerate((e(b"b" * 8, NOW) + e(b"a" * 8, NOW), e(b"a" * 8, NOW) + e(b"a" * 8, NOW + 1),
                             e(b"a" * 8, 0), e(b"a" * 8, NOW)[:-1])):
        assert dev.store.apply(signed(raw, 10 + i))[0] == bundle.MALFORMED, raw
    assert dev.store.apply(signed(e(b"a" * 8, NOW) + e(b"b" * 8, NOW), 20)) == (bundle.APPLIED, 20)
    with pytest.raises(bundles.BundleError):
        content(ikey, isolated=[(b"a" * 8, 0)]).normalized()
