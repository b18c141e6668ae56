"""Visitor passes (one entry, one exit inside the window; per-mode admission, never in
sealed mode) and home isolation with an end time (exit refused until the end, lifted by
the gate itself), on CPython and MicroPython: the policy, the flash visitor table
(app/visits.py), the isolation list (app/lists.py) and a real gate with a signed visitor
pass (host-issued vector)."""
import passkeys
import passvectors as V
from app import clock, gate, lists, policy, reasons, record, roles, visits
from app.lists import Lists, Passback, write_isolation
from app.settings import Settings
from app.visits import Visits

from core_doubles import NOW, FakeApb, FakeLists, FakePass, FakeVisits, VirtualClock, tmpdir

IN = roles.IN
OUT = roles.OUT
H = 3600
VPID = b"visitor1"


def ok_temp():
    return policy.Reading(3660, 3490, 2200)


def vpass(**kw):
    kw.setdefault("role", roles.VISITOR)
    kw.setdefault("cti", VPID)
    kw.setdefault("nbf", NOW - H)
    kw.setdefault("exp", NOW + H)
    return FakePass(**kw)


def decide(p=None, direction=IN, now=NOW, trusted=True, s=None, lists=None, apb=None, vis=None):
    return policy.decide(vpass() if p is None else p, ok_temp(), direction, now, trusted,
                         Settings() if s is None else s, FakeLists() if lists is None else lists,
                         FakeApb() if apb is None else apb, FakeVisits() if vis is None else vis)


def denied(d, reason):
    assert not d.allow and d.reason == reason and d.unlock_s == 0, d


# ---- policy: visitors ------------------------------------------------------------------


def test_visitor_enters_once_then_exits_once():
    assert decide().allow and decide().reason == reasons.OK
    denied(decide(vis=FakeVisits({VPID: visits.ENTERED})), reasons.VISITOR_USED)
    denied(decide(vis=FakeVisits({VPID: visits.EXITED})), reasons.VISITOR_USED)
    assert decide(direction=OUT, vis=FakeVisits({VPID: visits.ENTERED})).allow
    denied(decide(direction=OUT, vis=FakeVisits({VPID: visits.EXITED})), reasons.VISITOR_USED)
    # other visitors are not affected
    assert decide(p=vpass(cti=b"visitor2"), vis=FakeVisits({VPID: visits.EXITED})).allow


def test_visitor_outside_the_window_is_refused_as_usual():
    denied(decide(now=NOW + H), reasons.EXPIRED)
    denied(decide(now=NOW + H, trusted=False), reasons.EXPIRED)  # lower bound past exp
    denied(decide(now=NOW - H - 1), reasons.NOT_YET_VALID)


def test_other_gates_passages_count_through_the_anti_passback_store():
    apb = FakeApb()
    apb.record(VPID, IN, NOW - 60)  # came in at the community's other gate (peer sync)
    denied(decide(apb=apb), reasons.VISITOR_USED)
    assert decide(direction=OUT, apb=apb).allow
    apb.record(VPID, OUT, NOW - 30)
    denied(decide(direction=OUT, apb=apb), reasons.VISITOR_USED)
    denied(decide(apb=apb), reasons.VISITOR_USED)


def test_visitor_admission_per_mode_and_never_sealed():
    denied(decide(s=Settings({"mode": "control"})), reasons.VISITOR_NOT_ADMITTED)
    assert decide(s=Settings({"mode": "control", "visitor_modes": ["prevention", "control"]})).allow
    denied(decide(s=Settings({"visitor_modes": []})), reasons.VISITOR_NOT_ADMITTED)
    for exempt in ([], [roles.VISITOR]):  # exempting the role does not open sealed mode
        s = Settings({"mode": "sealed", "exempt_roles": exempt})
        denied(decide(s=s), reasons.VISITOR_NOT_ADMITTED)
    # a visitor inside when the community is sealed: the mode's exit rule
    denied(decide(direction=OUT, s=Settings({"mode": "sealed"}), vis=FakeVisits({VPID: 1})),
           reasons.MODE_SEALED)
    assert decide(direction=OUT, s=Settings({"mode": "control"}), vis=FakeVisits({VPID: 1})).allow
    for bad in (["sealed"], ["prevention", 2], ["lockdown"], "prevention"):
        try:
            Settings({"visitor_modes": bad})
        except ValueError as e:
            assert "visitor_modes" in str(e)
        else:
            raise AssertionError(bad)
    assert Settings().to_dict()["visitor_modes"] == ["prevention"]
    s = Settings({"visitor_modes": [1, "prevention"]})
    assert s.to_dict()["visitor_modes"] == ["prevention", "control"] and Settings(s.to_dict()) == s


def test_full_table_refuses_a_new_visitor_but_never_an_exit():
    d = decide(vis=FakeVisits(full=True))
    denied(d, reasons.VISITOR_FULL)
    assert d.urgent
    assert decide(direction=OUT, vis=FakeVisits(full=True)).allow


def test_a_gate_without_memory_refuses_visitors():
    d = policy.decide(vpass(), ok_temp(), IN, NOW, True, Settings(), FakeLists(), None, None)
    denied(d, reasons.VISITOR_NOT_ADMITTED)
    # residents are not touched by any of this
    assert policy.decide(FakePass(), ok_temp(), IN, NOW, True, Settings(), FakeLists(), None, None).allow


# ---- policy: home isolation -------------------------------------------------------------


def rpid():
    return record.pass_id(FakePass().cti)


def test_isolation_refuses_exit_until_the_end_allows_entry():
    end = NOW + 3 * 86400
    lk = FakeLists(isolated=[(rpid(), end)])
    p = FakePass()
    d = decide(p=p, direction=OUT, lists=lk)
    denied(d, reasons.ISOLATED)
    assert d.urgent  # like a quarantine breach (s.quarantine_urgent)
    assert decide(p=p, direction=IN, lists=lk).allow
    denied(decide(p=p, direction=OUT, lists=lk, now=end - 1), reasons.ISOLATED)
    assert decide(p=p, direction=OUT, lists=lk, now=end).allow  # lifts itself at the end
    # whatever the role: isolation is per person, not per duty
    for role in (roles.MEDICAL, roles.EMERGENCY):
        denied(decide(p=FakePass(role=role), direction=OUT, lists=lk), reasons.ISOLATED)
    assert decide(p=FakePass(cti=b"someone-else"), direction=OUT, lists=lk).allow


def test_isolation_with_an_untrusted_clock_lifts_only_when_the_lower_bound_is_past_the_end():
    end = NOW + 100
    lk = FakeLists(isolated=[(rpid(), end)])
    p = FakePass()
    d = decide(p=p, direction=OUT, lists=lk, now=end - 1, trusted=False)
    denied(d, reasons.ISOLATED)
    d = decide(p=p, direction=OUT, lists=lk, now=end, trusted=False)
    assert d.allow and d.reason == reasons.OK_TIME_UNTRUSTED
    denied(decide(p=p, direction=OUT, lists=lk, now=None, trusted=False), reasons.ISOLATED)


def test_isolation_is_checked_before_quarantine_and_lockdown():
    lk = FakeLists(quarantined=[(3, 0, 0)], isolated=[(rpid(), NOW + 10)])
    denied(decide(p=FakePass(), direction=OUT, lists=lk), reasons.ISOLATED)
    lk = FakeLists(quarantined=[(3, 0, 0)], isolated=[(rpid(), NOW - 10)])
    denied(decide(p=FakePass(), direction=OUT, lists=lk), reasons.QUARANTINED)


def test_isolation_list_on_flash():
    d = tmpdir("iso")
    a = b"\xf0isolat1"
    ents = [(bytes([i]) * 8, NOW + i) for i in range(1, 200)]
    assert write_isolation(d, ents + [(a, NOW + 5 * 86400)]) == 200
    lk = Lists(d)
    assert lk.isolated_until(a) == NOW + 5 * 86400
    for pid, end in ents:
        assert lk.isolated_until(pid) == end
    assert lk.isolated_until(b"\xfeZZZZZZZ") == 0 and lk.isolated_until(b"\x00" * 8) == 0
    assert lk.check() == []
    try:
        write_isolation(d, [(a, NOW), (a, NOW + 1)])
    except ValueError:
        pass
    else:
        raise AssertionError("two entries for one pass")
    assert Lists(tmpdir("iso")).isolated_until(a) == 0  # no file: nobody isolated
    with open(d + "/" + lists.ISOLATION, "ab") as f:
        f.write(b"x")
    assert Lists(d).check() == [d + "/" + lists.ISOLATION]


# ---- the visitor table on flash ---------------------------------------------------------


def pid(i):
    return ("vis%05d" % i).encode()


def test_table_remembers_across_reopen_and_never_lowers_a_state():
    path = tmpdir("vis") + "/v.bin"
    t = Visits(path, slots=8)
    assert t.state(pid(1), NOW) == visits.NONE
    assert t.mark(pid(1), visits.ENTERED, NOW + H, NOW)
    assert t.mark(pid(2), visits.EXITED, NOW + H, NOW)
    t2 = Visits(path, slots=8)  # a reboot
    assert t2.state(pid(1), NOW) == visits.ENTERED and t2.state(pid(2), NOW) == visits.EXITED
    assert t2.mark(pid(2), visits.ENTERED, NOW + H, NOW)  # no-op
    assert t2.state(pid(2), NOW) == visits.EXITED
    assert t2.mark(pid(1), visits.EXITED, NOW + H, NOW)
    assert t2.state(pid(1), NOW) == visits.EXITED
    assert t2.count(NOW) == 2  # the change moved the entry, it did not copy it


def test_table_is_bounded_and_reuses_expired_slots():
    path = tmpdir("vis") + "/v.bin"
    t = Visits(path, slots=20)
    for i in range(20):
        assert t.mark(pid(i), visits.ENTERED, NOW + i + 1, NOW)
    assert t.state(pid(99), NOW) == visits.FULL
    assert not t.mark(pid(99), visits.ENTERED, NOW + H, NOW)
    assert t.mark(pid(3), visits.EXITED, NOW + 4, NOW)  # in place when full
    assert t.state(pid(3), NOW) == visits.EXITED
    # pid(0)'s pass expired at NOW + 1: with the clock's lower bound past it the slot is free
    assert t.state(pid(99), NOW + 1) == visits.NONE
    assert t.mark(pid(99), visits.ENTERED, NOW + H, NOW + 1)
    assert t.state(pid(99), NOW + 1) == visits.ENTERED
    assert t.state(pid(0), None) == visits.FULL  # forgotten (its pass is refused as EXPIRED)
    assert t.state(pid(5), None) == visits.ENTERED  # no clock at all: nothing counts as expired


def test_table_torn_slot_reads_free_and_both_copies_resolve_to_the_further_state():
    path = tmpdir("vis") + "/v.bin"
    t = Visits(path, slots=4)
    t.mark(pid(1), visits.ENTERED, NOW + H, NOW)
    with open(path, "rb") as f:
        raw = f.read()
    slot = raw[:16]
    assert slot[:8] == pid(1)
    # a cut between the two writes of a change: the old ENTERED slot and the new EXITED one
    t.mark(pid(1), visits.EXITED, NOW + H, NOW)
    with open(path, "r+b") as f:
        f.write(slot)
    assert Visits(path, slots=4).state(pid(1), NOW) == visits.EXITED
    t.mark(pid(2), visits.ENTERED, NOW + H, NOW)  # and the stale copy gets cleared on the next change
    # a torn slot: the check fails, the slot is free
    with open(path, "r+b") as f:
        f.write(b"\x00" * 8)
    assert Visits(path, slots=4).count(NOW) == 2


# ---- a real gate with a signed visitor pass ----------------------------------------------

VISITOR = V.VALID[3][1]  # visitor of 3-1-1203, NOW - 1 h .. NOW + 1 h


def make(direction, d, port, s=None, trusted=True):
    c = clock.Clock(d + "/clock" + str(direction), now_fn=port, offset=0)
    if trusted:
        c.set(port(), clock.SRC_SERVER)
    from app.eventlog import EventLog
    lg = EventLog(d + "/log" + str(direction), c, seg_records=64, max_segments=4)
    return gate.Gate(direction, V.COMMUNITY, passkeys.TRUSTED, s or Settings(), lg, c, Lists(d),
                     Passback(d + "/pb%d.bin" % direction, slots=64), None, None, None, None, None,
                     Visits(d + "/visits%d.bin" % direction, slots=16))


def reading():
    from app import thermo
    return thermo.Reading(3660, 3530, 2200)


def test_gate_visitor_one_entry_one_exit_survives_a_reboot_and_logs_the_pass():
    d = tmpdir("vgate")
    port = VirtualClock(V.NOW)
    g = make(IN, d, port)
    ps = g.passage_now(VISITOR, reading())
    assert ps.decision.allow, ps.decision
    r = record.unpack(list(g.log.records())[-1])
    # the record carries role 7 and the pass id: the server maps it to the inviting unit
    assert r[5] == roles.VISITOR and r[6] == record.pass_id(ps.p.cti)
    assert ps.p.unit() == "3-1-1203"
    assert g.passage_now(VISITOR, reading()).decision.reason == reasons.VISITOR_USED
    g = make(IN, d, port)  # reboot: the table is on flash
    g.apb = Passback(d + "/fresh.bin", slots=64)  # even without the anti-passback memory
    assert g.passage_now(VISITOR, reading()).decision.reason == reasons.VISITOR_USED
    out = make(OUT, d, port)
    out.visits = g.visits  # one device, both directions
    assert out.passage_now(VISITOR, reading()).decision.allow
    assert out.passage_now(VISITOR, reading()).decision.reason == reasons.VISITOR_USED
    port.t = V.NOW + H  # after the window
    assert g.passage_now(VISITOR, reading()).decision.reason == reasons.EXPIRED


def test_gate_isolation_lifts_at_the_end_time_without_a_new_bundle():
    import binascii
    d = tmpdir("igate")
    port = VirtualClock(V.NOW)
    resident = V.VALID[0][1]
    cti = binascii.unhexlify(V.VALID[0][2]["cti"])
    end = V.NOW + 2 * 86400
    write_isolation(d, [(cti, end)])
    out = make(OUT, d, port)
    inn = make(IN, d, port)
    assert out.passage_now(resident, reading()).decision.reason == reasons.ISOLATED
    assert inn.passage_now(resident, reading()).decision.allow  # coming home is fine
    port.t = end - 1
    assert out.passage_now(resident, reading()).decision.reason == reasons.ISOLATED
    port.t = end
    assert out.passage_now(resident, reading()).decision.allow  # same lists, no new bundle
    # a reboot without network: the clock continues from its floor (a lower bound)
    port.t = V.NOW + 86400
    g = make(OUT, tmpdir("igate2"), port, trusted=False)
    g.lists = Lists(d)
    assert not g.clock.trusted()
    assert g.passage_now(resident, reading()).decision.reason == reasons.ISOLATED
    port.t = end + 5
    ps = g.passage_now(resident, reading())
    assert ps.decision.allow and ps.decision.reason == reasons.OK_TIME_UNTRUSTED


def test_entry_at_one_gate_is_known_at_the_other_through_the_peer_sync():
    """Two entrance gates of one community: the visitor comes in at A; the server forwards
    A's passage (peer page, app/peers.py) to B; B refuses the second entry, and both
    refuse a second exit after the exit at B is forwarded to A."""
    import struct

    from app import peers

    port = VirtualClock(V.NOW)
    a = make(IN, tmpdir("gate_a"), port)
    b = make(IN, tmpdir("gate_b"), port)
    ps = a.passage_now(VISITOR, reading())
    assert ps.decision.allow
    pid = record.pass_id(ps.p.cti)
    page = struct.pack("<Q", 1) + pid + struct.pack("<IB", V.NOW, roles.IN)
    assert peers.Peers(tmpdir("peer_b") + "/c", b.note_passage).apply(page) == 1
    assert b.passage_now(VISITOR, reading()).decision.reason == reasons.VISITOR_USED
    b_out = make(OUT, tmpdir("gate_b_out"), port)
    b_out.note_passage(pid, roles.IN, V.NOW)
    assert b_out.passage_now(VISITOR, reading()).decision.allow
    a_out = make(OUT, tmpdir("gate_a_out"), port)
    a_out.note_passage(pid, roles.IN, V.NOW)
    port.t = V.NOW + 60
    page = struct.pack("<Q", 2) + pid + struct.pack("<IB", V.NOW + 1, roles.OUT)
    assert peers.Peers(tmpdir("peer_a") + "/c", a_out.note_passage).apply(page) == 1
    assert a_out.passage_now(VISITOR, reading()).decision.reason == reasons.VISITOR_USED
