"""One test per gate rule (DESIGN.md section 3), through the whole firmware: main.setup on
a simulated board, passes issued by the host code, the GM65 model sending the scan over
the UART, the MLX90614 model answering on I2C, the relay pin's recorded levels, and the
records read back from the flash directory."""
from __future__ import annotations

import pytest

from app import reasons, record
from gate_helpers import COMMUNITY, NOW, passes, site, trusting  # noqa: F401 (fixtures)
from gatepass.issuing import bundles
from gatepass.issuing import keys as keylib

ISSUER = keylib.from_scalar(0x1D1D1D, kid=b"\x01\x02\x03\x04")
BUNDLE_KEY = keylib.from_scalar(0xB0B0B0, kid=b"\xbb\x01")


def gate(site, direction="in", board="esp32-devkitc", settings=None, trusted=True, name=None):
    g = site.add(name or direction, direction, board=board, community=COMMUNITY,
                 settings=settings, **trusting(ISSUER, BUNDLE_KEY))
    app = g.boot()
    assert app.status == "run", app.error
    site.start(g)
    site.run_for(300)
    if trusted:
        g.gate.set_time(site.now(), 1)
    return g


def apply_bundle(site, g, version=1, mode=0, revoked=(), quarantined=(), settings=None):
    data = bundles.build(BUNDLE_KEY, bundles.Content(COMMUNITY, mode=mode, revoked=list(revoked),
                                                     quarantined=list(quarantined), settings=settings or {}),
                         version, site.now())
    code, v = g.app.store.apply(data)
    assert (code, v) == (0, version)


def passages(g):
    return [r for r in g.records() if r["kind"] == record.K_PASSAGE]


def unlocks(g):
    return g.unlocked_intervals()


def assert_denied(g, ps, reason):
    assert not ps.decision.allow
    assert reasons.name(ps.decision.reason) == reasons.name(reason)
    r = passages(g)[-1]
    assert r["seq"] == ps.seq and r["reason"] == reason and not r["allowed"]
    assert unlocks(g) == [], "a denied passage moved the relay"


def assert_allowed(g, ps, reason):
    assert ps.decision.allow, ps.decision
    assert reasons.name(ps.decision.reason) == reasons.name(reason)
    r = passages(g)[-1]
    assert r["seq"] == ps.seq and r["reason"] == reason and r["allowed"]
    assert len(unlocks(g)) >= 1


# ---- the pass ------------------------------------------------------------------------------


def test_rule_valid_pass_of_this_community_opens_the_door(site, passes):
    g = gate(site)
    p = passes.make(label="Flat 1203")
    ps = g.visit(p.text, body_c=36.6)
    assert_allowed(g, ps, reasons.OK)
    r = passages(g)[-1]
    assert r["pid"] == p.spec.cti[:8].hex() and r["role"] == 0 and r["direction"] == "in"
    assert r["time_trusted"] and r["time"] == ps.t
    assert abs(r["body"] - 36.6) <= 0.02 and r["obj"] < r["body"] and abs(r["amb"] - 22.0) <= 0.02
    # nobody walked through: the relay opened once, for exactly unlock_s (5 s)
    (start, end), = unlocks(g)
    assert end - start == pytest.approx(5000, abs=1)
    assert g.display_lines()[0] == "Welcome"


def test_rule_exempt_role_passes_as_exempt(site, passes):
    g = gate(site)
    ps = g.visit(passes.text(role="medical"), body_c=36.5)
    assert_allowed(g, ps, reasons.OK_EXEMPT)


@pytest.mark.parametrize("case,reason", [
    ("not_a_pass", reasons.MALFORMED),
    ("unknown_kid", reasons.UNKNOWN_KID),
    ("bad_signature", reasons.BAD_SIGNATURE),
    ("other_community", reasons.WRONG_COMMUNITY),
])
def test_rule_only_valid_passes_of_this_community(site, passes, case, reason):
    from gatepass.sim.crowd import forge_unit

    g = gate(site)
    text = {
        "not_a_pass": lambda: "WIFI:S:guest;T:WPA;P:hunter2;;",
        "unknown_kid": lambda: passes.text(key=keylib.from_scalar(777, kid=b"\x77")),
        "bad_signature": lambda: forge_unit(passes.text(), (3, 1, 1205)),
        "other_community": lambda: passes.text(community="sunnyside"),
    }[case]()
    ps = g.visit(text, body_c=36.6)
    assert_denied(g, ps, reason)
    assert passages(g)[-1]["role"] is None  # nothing from an unverified pass is trusted


def test_rule_expired_pass_denied(site, passes):
    g = gate(site)
    ps = g.visit(passes.text(nbf=NOW - 40 * 86400, exp=NOW - 86400))
    assert_denied(g, ps, reasons.EXPIRED)


def test_rule_not_yet_valid_pass_denied(site, passes):
    g = gate(site)
    ps = g.visit(passes.text(nbf=NOW + 86400, exp=NOW + 40 * 86400))
    assert_denied(g, ps, reasons.NOT_YET_VALID)


def test_rule_revoked_pass_denied(site, passes):
    g = gate(site)
    lost = passes.make()
    kept = passes.make(unit="3-1-1204")
    apply_bundle(site, g, revoked=[lost.spec.cti])
    assert_denied(g, g.visit(lost.text), reasons.REVOKED)
    assert_allowed(g, g.visit(kept.text), reasons.OK)
    assert [r["aux"] for r in g.records() if r["kind"] == record.K_BUNDLE] == [1]


def test_rule_role_not_admitted_at_this_gate(site, passes):
    g = gate(site, settings={"admitted_roles": [0, 1]})
    assert_denied(g, g.visit(passes.text(role="supply")), reasons.ROLE_NOT_ALLOWED)


def test_rule_direction_not_allowed_by_the_pass(site, passes):
    g = gate(site, "out")
    assert_denied(g, g.visit(passes.text(role="supply", dirs="in")), reasons.DIRECTION_NOT_ALLOWED)


# ---- temperature ---------------------------------------------------------------------------


def test_rule_fever_denies_alarms_and_raises_an_urgent_event(site, passes):
    g = gate(site)
    urgent = []
    g.gate.on_urgent = urgent.append
    ps = g.visit(passes.text(), body_c=38.3)
    assert_denied(g, ps, reasons.FEVER)
    r = passages(g)[-1]
    assert r["urgent"] and r["alarm"] and r["body"] >= 37.3
    assert urgent == [ps.seq]
    assert g.app.log.urgent() and record.unpack(g.app.log.urgent()[-1])[0] == ps.seq
    assert g.display_lines()[0].startswith("Fever")
    # the alarm pattern drove the buzzer
    buzzer = g.rig.pin(g.profile["indicator"]["buzzer"])
    assert buzzer.intervals(1)


def test_rule_fever_alarms_even_with_a_bad_pass(site):
    g = gate(site)
    ps = g.visit("GP1:NOT-A-REAL-PASS", body_c=38.6)
    assert_denied(g, ps, reasons.FEVER)
    assert passages(g)[-1]["aux"] == reasons.MALFORMED and passages(g)[-1]["urgent"]


def test_rule_threshold_from_the_bundle(site, passes):
    g = gate(site)
    apply_bundle(site, g, settings={"comp_k_pm": 100})
    p = passes.make()
    data = bundles.build(BUNDLE_KEY, bundles.Content(COMMUNITY, threshold_cc=3650), 2, site.now())
    assert g.app.store.apply(data) == (0, 2)
    assert_denied(g, g.visit(p.text, body_c=36.8), reasons.FEVER)


def test_rule_no_reading_asks_to_come_closer(site, passes):
    g = gate(site)
    p = passes.make()
    shown = []
    g.nobody()
    n = len(g.passages)
    g.show(p.text)
    site.run_for(1500)
    shown.append(list(g.display_lines()))
    ps = site.wait_passage(g, n)
    g.hide()
    assert_denied(g, ps, reasons.NO_READING)
    assert shown[0][0] == "Come closer"  # said while waiting, not only at the end
    assert ps.ms >= g.gate.measure_ms  # the person got the whole window
    # the same code again at once is a retry, not a repeat to ignore
    ps2 = g.visit(p.text, body_c=36.6)
    assert_allowed(g, ps2, reasons.OK)


def test_rule_a_bad_pass_is_not_kept_waiting_at_the_thermometer(site):
    g = gate(site)
    g.nobody()
    n = len(g.passages)
    g.show("hello")
    ps = site.wait_passage(g, n)
    assert ps.decision.reason == reasons.MALFORMED and ps.ms < 1000


@pytest.mark.parametrize("scene,reason", [
    ("stepping", reasons.UNSTABLE),
    ("too_hot", reasons.IMPLAUSIBLE),
])
def test_rule_unusable_readings_are_never_guessed(site, passes, scene, reason):
    from gatepass.sim import mlx90614 as scenes

    g = gate(site)
    g.gate.measure_ms = 1000
    n = len(g.passages)
    g.rig.mlx.scene = scenes.stepping(35.2, 22.0, period_ms=100) if scene == "stepping" else scenes.constant(43.5, 22.0)
    g.show(passes.text())
    ps = site.wait_passage(g, n)
    assert_denied(g, ps, reason)


def test_rule_sensor_fault_keeps_the_door_locked(site, passes):
    g = gate(site)
    g.rig.mlx.nack_always = True
    ps1 = g.visit(passes.text(), body_c=36.6)
    assert_denied(g, ps1, reasons.SENSOR_FAULT)
    ps2 = g.visit(passes.text(unit="3-1-1204"), body_c=36.6)
    assert_denied(g, ps2, reasons.SENSOR_FAULT)
    faults = [r for r in g.records() if r["kind"] == record.K_SENSOR_FAULT]
    assert len(faults) == 1 and faults[0]["urgent"]  # logged when it starts, not per passage
    assert faults[0]["aux"] >> 8 == 0 and faults[0]["aux"] & 0xFF == 1  # thermometer, bus error
    g.rig.mlx.nack_always = False
    assert_allowed(g, g.visit(passes.text(unit="3-2-501")), reasons.OK)


def test_rule_sensor_missing_at_boot(site, passes):
    g = site.add("in", "in", community=COMMUNITY, keys=[(ISSUER.kid, ISSUER.pub65)])
    g.rig.i2c.detach(g.rig.mlx)
    app = g.boot()
    assert app.status == "run" and app.gate.read_temp is None
    site.start(g)
    assert_denied(g, g.visit(passes.text()), reasons.SENSOR_FAULT)
    assert [r["aux"] for r in g.records() if r["kind"] == record.K_SENSOR_FAULT] == [0]


def test_rule_measuring_step_times_out(site, passes):
    import time

    g = gate(site)
    g.gate.measure_ms = 400
    g.gate.grace_ms = 100
    read = g.gate.read_temp

    def slow_read():
        time.sleep_ms(200)  # a bus that answers, slowly
        return read()

    g.gate.read_temp = slow_read
    ps = g.visit(passes.text(), body_c=36.6)
    assert_denied(g, ps, reasons.TIMEOUT)


# ---- community rules -----------------------------------------------------------------------


def test_rule_quarantined_unit_may_not_go_out(site, passes):
    g = gate(site, "out")
    apply_bundle(site, g, quarantined=[(5, 1, 302)])
    urgent = []
    g.gate.on_urgent = urgent.append
    ps = g.visit(passes.text(unit="5-1-302"))
    assert_denied(g, ps, reasons.QUARANTINED)
    assert passages(g)[-1]["urgent"] and urgent == [ps.seq]
    # the rest of the building is free to go
    assert_allowed(g, g.visit(passes.text(unit="5-1-303")), reasons.OK)


def test_rule_quarantined_building_covers_every_unit(site, passes):
    g = gate(site, "out")
    apply_bundle(site, g, quarantined=[(5, 0, 0)])
    assert_denied(g, g.visit(passes.text(unit="5-2-1101")), reasons.QUARANTINED)


def test_rule_quarantined_unit_may_come_home(site, passes):
    g = gate(site, "in")
    apply_bundle(site, g, quarantined=[(5, 1, 302)])
    assert_allowed(g, g.visit(passes.text(unit="5-1-302")), reasons.OK)


def test_rule_quarantine_exempt_role_may_go_out(site, passes):
    g = gate(site, "out")
    apply_bundle(site, g, quarantined=[(5, 0, 0)])
    assert_allowed(g, g.visit(passes.text(role="medical", unit="5-1-302")), reasons.OK_EXEMPT)


def test_rule_mode_control_keeps_residents_in(site, passes):
    g = gate(site, "out")
    apply_bundle(site, g, mode=1)
    assert_denied(g, g.visit(passes.text()), reasons.MODE_CONTROL)
    assert_allowed(g, g.visit(passes.text(role="supply")), reasons.OK_EXEMPT)


def test_rule_mode_control_lets_residents_come_home(site, passes):
    g = gate(site, "in")
    apply_bundle(site, g, mode=1)
    assert_allowed(g, g.visit(passes.text()), reasons.OK)


def test_rule_mode_sealed_only_exempt_roles_go_out(site, passes):
    g = gate(site, "out", settings={"exempt_roles": [1]})
    apply_bundle(site, g, mode=2, settings={"exempt_roles": [1]})
    assert_denied(g, g.visit(passes.text(role="supply")), reasons.MODE_SEALED)
    assert_denied(g, g.visit(passes.text()), reasons.MODE_SEALED)
    assert_allowed(g, g.visit(passes.text(role="medical")), reasons.OK_EXEMPT)


def test_rule_mode_sealed_admits_residents_and_exempt_roles_only(site, passes):
    g = gate(site, "in")
    apply_bundle(site, g, mode=2, settings={"exempt_roles": [1]})
    assert_denied(g, g.visit(passes.text(role="supply")), reasons.MODE_SEALED)
    assert_allowed(g, g.visit(passes.text()), reasons.OK)


def test_rule_anti_passback_denies_a_reused_screenshot(site, passes):
    g = gate(site, "in")
    p = passes.make()
    assert_allowed(g, g.visit(p.text, walk=True), reasons.OK)
    site.run_for(60000)
    ps = g.visit(p.text)
    assert not ps.decision.allow and ps.decision.reason == reasons.PASSBACK
    assert len(unlocks(g)) == 1


def test_rule_anti_passback_forgets_after_an_exit(site, passes):
    ent = gate(site, "in", name="entrance")
    ext = gate(site, "out", name="exit")
    site.pair(ent, ext)  # the exit's passages reach the entrance (the server's sync)
    p = passes.make()
    assert_allowed(ent, ent.visit(p.text, walk=True), reasons.OK)
    assert_allowed(ext, ext.visit(p.text, walk=True), reasons.OK)
    assert_allowed(ent, ent.visit(p.text, walk=True), reasons.OK)


def test_rule_anti_passback_soft_lets_in_flagged(site, passes):
    g = gate(site, "in", settings={"passback": "soft"})
    p = passes.make()
    g.visit(p.text, walk=True)
    ps = g.visit(p.text, walk=True)
    assert_allowed(g, ps, reasons.OK_PASSBACK_SOFT)
    assert passages(g)[-1]["flagged"]


# ---- time ----------------------------------------------------------------------------------


def test_rule_untrusted_time_allowed_but_flagged(site, passes):
    g = gate(site, trusted=False)
    ps = g.visit(passes.text())
    assert_allowed(g, ps, reasons.OK_TIME_UNTRUSTED)
    r = passages(g)[-1]
    assert r["flagged"] and not r["time_trusted"]


def test_rule_untrusted_time_denied_when_the_policy_says_so(site, passes):
    g = gate(site, trusted=False, settings={"untrusted_time": "deny"})
    assert_denied(g, g.visit(passes.text()), reasons.TIME_UNTRUSTED)


def test_rule_untrusted_time_still_refuses_a_certainly_expired_pass(site, passes):
    g = gate(site, trusted=False)
    # the device's floor (last known time) is past the pass: expired whatever the real time
    g.gate.clock.bump(NOW)
    assert_denied(g, g.visit(passes.text(nbf=NOW - 90 * 86400, exp=NOW - 86400)), reasons.EXPIRED)


# ---- the log -------------------------------------------------------------------------------


def fill_log(flash, n, seg=2000):
    """Segment files holding n unuploaded records, as a device that never reached its
    server for weeks would have."""
    logdir = flash / "data" / "log"
    logdir.mkdir(parents=True, exist_ok=True)
    seq = 1
    while seq <= n:
        k = min(seg, n - seq + 1)
        data = b"".join(record.pack(s, NOW - 1000, record.K_PASSAGE, 0, record.F_ALLOWED | record.F_IN, 0,
                                    b"\x01" * 8, 3660, 3520, 2200) for s in range(seq, seq + k))
        (logdir / ("%08x.seg" % seq)).write_bytes(data)
        seq += k


def test_rule_log_full_under_stop_refuses_passages(site, passes):
    from app import eventlog

    g = site.add("in", "in", community=COMMUNITY, keys=[(ISSUER.kid, ISSUER.pub65)],
                 settings={"log_full": "stop"})
    fill_log(g.flash, 2000 * 31 - 20)
    app = g.boot()
    assert app.status == "run"
    site.start(g)
    assert g.gate.set_time(site.now(), 1) is not None  # system events still fit the reserve
    assert app.log.full_policy == eventlog.LOG_STOP
    before = app.log.next_seq
    ps = g.visit(passes.text())
    assert not ps.decision.allow and ps.decision.reason == reasons.LOG_FULL
    assert ps.decision.detail == reasons.OK  # what it would have been
    assert unlocks(g) == [] and ps.seq == 0
    assert app.log.refused == 1 and app.log.next_seq == before  # nothing half-recorded
    assert g.display_lines()[0].startswith("Log full")
