"""The gate under faults, resets and odd timing, on simulated boards running the real
firmware: the relay (pin history from construction on), the watchdog, safe mode, bad
configuration, crashes, power cuts, scans at the wrong moment, door alarms."""
from __future__ import annotations

import functools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import reasons, record
from gate_helpers import COMMUNITY, NOW, config_trusting, passes, site  # noqa: F401 (fixtures)
from gatepass import sim
from gatepass.issuing import bundles
from gatepass.issuing import keys as keylib
from gatepass.sim.simgate import PassMaker, Site

ISSUER = keylib.from_scalar(0x2E2E2E, kid=b"\x05\x06")
BUNDLE_KEY = keylib.from_scalar(0xB1B1B1, kid=b"\xbb\x02")
PROFILES = sim.profile_names()
config = functools.partial(config_trusting, ISSUER, BUNDLE_KEY)  # config(name="g", direction="in", **kw)


def running(site, direction="in", board="esp32-devkitc", name="g", **kw):
    g = site.add(name, board=board, config=config(name, direction, board=board, **kw))
    app = g.boot()
    assert app.status == "run", app.error
    site.start(g)
    site.run_for(300)
    g.gate.set_time(site.now(), 1)
    return g


def unlock_seen(g):
    lv = g.unlock_level()
    return [(t, v) for t, v in g.relay_pin.history if v == lv]


def kinds(g):
    return [r["kind_name"] for r in g.records()]


# ---- the relay -----------------------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from(["ok", "staff", "expired", "revoked", "junk", "other", "wrongdir"]),
                          st.sampled_from([36.4, 37.0, 37.3, 38.8, None]), st.booleans()),
                min_size=1, max_size=6))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_invariant_a_denied_decision_never_unlocks_the_relay(visits):
    with Site(NOW) as site:
        pm = PassMaker(ISSUER, COMMUNITY, NOW)
        g = running(site, "in", settings={"passback": "off"})
        revoked = pm.make(unit="9-9-9")
        g.app.store.apply(bundles.build(BUNDLE_KEY, bundles.Content(COMMUNITY, revoked=[revoked.spec.cti]),
                                        1, site.now()))
        texts = {
            "ok": lambda: pm.text(), "staff": lambda: pm.text(role="sanitation"),
            "expired": lambda: pm.text(exp=NOW - 10), "revoked": lambda: revoked.text,
            "junk": lambda: "not a pass at all", "other": lambda: pm.text(community="elsewhere"),
            "wrongdir": lambda: pm.text(dirs="out"),
        }
        decided = []
        g.on_passage.append(lambda _g, ps: decided.append((site.clock.now_ms, ps.decision)))
        for kind, body, walk in visits:
            g.visit(texts[kind](), body_c=body, walk=walk)
        allowed_at = [t for t, d in decided if d.allow]
        starts = [s for s, _ in g.unlocked_intervals()]
        # every unlock began at the very moment of an allowed decision, one per decision
        assert len(starts) == len(allowed_at)
        for s, t in zip(starts, allowed_at):
            assert abs(s - t) < 1
        for t, d in decided:
            if not d.allow:
                assert d.unlock_s == 0 and t not in starts
        # never let in at or above the threshold
        assert all(not (d.allow and body is not None and body >= 37.3)
                   for (t, d), (_, body, _) in zip(decided, visits))


@pytest.mark.parametrize("board", PROFILES)
def test_relay_never_pulses_at_boot_soft_reset_watchdog_or_crash(site, board):
    g = site.add("g", board=board, config=config(board=board))
    lock = 1 - g.unlock_level()
    app = g.boot()
    assert app.status == "run"
    site.start(g)
    site.run_for(2000)
    # the gate loop dies: the supervisor stops feeding, the watchdog resets the board
    g.app.dev.scanner.poll = lambda: 1 / 0
    with pytest.raises(sim.SimReset) as e:
        site.run_for(20000)
    assert e.value.cause == sim.WDT_RESET
    assert "error" in kinds(g)
    g.stop()
    app = g.boot()  # the board comes back after the watchdog reset
    assert app.status == "run"
    site.start(g)
    site.run_for(2000)
    g.rig.world.reset(sim.SOFT_RESET)  # Ctrl-D: pads keep their levels
    g.stop()
    g.boot()
    site.start(g)
    site.run_for(2000)
    # the MCU never drove the unlock level, and the wire never showed it
    assert all(v == lock for _, v in g.relay_pin.outputs), g.relay_pin.outputs
    assert unlock_seen(g) == []
    boots = [r["aux"] for r in g.records() if r["kind"] == record.K_BOOT]
    assert boots == [sim.PWRON_RESET, sim.WDT_RESET, sim.SOFT_RESET]


def test_relay_relocks_as_soon_as_the_door_closes_behind_the_person(site, passes):
    g = running(site)
    g.visit(passes.text(), walk=True)
    (start, end), = g.unlocked_intervals()
    assert end - start < 2500  # not the full 5 s pulse: no tailgating on the remainder


# ---- watchdog ------------------------------------------------------------------------------


def test_watchdog_is_fed_while_healthy(site, passes):
    g = running(site)
    for _ in range(6):
        g.visit(passes.text(unit="3-1-%d" % (1200 + _)), walk=True)
        site.run_for(10000)
    assert g.rig.world.resets == []
    assert g.app.feeds >= 60


def test_watchdog_starves_when_the_gate_loop_dies(site):
    g = running(site)
    t_die = site.clock.now_ms
    g.app.dev.scanner.poll = lambda: [][1]
    site.run_for(1500)
    assert g.app.dead == "gate" and "error" in kinds(g)
    assert g.app.relay.locked
    with pytest.raises(sim.SimReset) as e:
        site.run_for(20000)
    assert e.value.cause == sim.WDT_RESET
    t_reset = g.rig.world.resets[-1][0]
    assert t_die < t_reset <= t_die + 8000 + 2 * 1000


def test_watchdog_starves_when_the_gate_loop_stalls(site):
    import asyncio

    g = running(site)
    forever = asyncio.Event()

    async def stuck(text):
        await forever.wait()  # a passage that never ends: no heartbeat

    g.gate.passage = stuck
    g.show("anything")
    t0 = site.clock.now_ms
    with pytest.raises(sim.SimReset) as e:
        site.run_for(60000)
    assert e.value.cause == sim.WDT_RESET
    # unhealthy after STALL_MS of silence, reset one watchdog period later
    assert 15000 <= g.rig.world.resets[-1][0] - t0 <= 15000 + 8000 + 2000


# ---- safe mode, bad files ------------------------------------------------------------------


def test_safe_mode_flag_file_skips_the_app_and_holds_the_door_locked(site):
    g = site.add("g", config=config())
    g.write_file("safemode", "")
    app = g.boot()
    assert app.status == "safe_mode" and app.gate is None
    assert g.rig.world.wdt is None  # the watchdog was never started: the REPL stays
    site.run_for(30000)
    assert g.rig.world.resets == []
    assert g.relay_pin.outputs == [(g.relay_pin.outputs[0][0], 1 - g.unlock_level())]
    assert not (g.flash / "data").exists()  # nothing written
    (g.flash / "safemode").unlink()
    assert g.boot().status == "run"


@pytest.mark.parametrize("held", [True, False])
def test_safe_mode_button_from_the_profile(site, held):
    g = site.add("g", config=config())
    prof = dict(g.profile, safe_button={"pin": 0, "active_low": True, "window_ms": 1000})
    g.write_file("board.json", prof)
    g.rig.pin(0).drive(0 if held else 1)
    t0 = site.clock.now_ms
    app = g.boot()
    assert app.status == ("safe_mode" if held else "run")
    if not held:
        assert site.clock.now_ms - t0 >= 1000  # the whole window was watched


@pytest.mark.parametrize("case,field", [
    ("missing", "config.json"),
    ("not_json", "config"),
    ("direction", "direction"),
    ("bad_key", "issuer_keys[0].pub"),
    ("no_keys", "issuer_keys"),
    ("bad_setting", "setting threshold"),
])
def test_bad_config_shows_a_clear_error_and_keeps_the_door_locked(site, case, field):
    g = site.add("g")
    g.write_file("board.json", g.profile)
    c = config()
    if case == "not_json":
        g.write_file("config.json", "{device_id: oops")
    elif case != "missing":
        if case == "direction":
            c["direction"] = "sideways"
        elif case == "bad_key":
            c["issuer_keys"][0]["pub"] = "04" + "00" * 64
        elif case == "no_keys":
            c["issuer_keys"] = []
        elif case == "bad_setting":
            c["settings"] = {"threshold": 50}
        g.write_file("config.json", c)
    app = g.boot()
    assert app.status == "config_error"
    assert field in app.error
    lines = g.display_lines()
    assert lines[0] == "Config error" and lines[1] and lines[1] in field[:16] + app.error
    red = g.rig.pin(g.profile["indicator"]["red"])
    assert red.level == 1  # active-high LED on
    assert all(v == 1 - g.unlock_level() for _, v in g.relay_pin.outputs)
    assert g.rig.world.wdt is None


def test_bad_profile_builds_only_a_sound_relay(site):
    g = site.add("g", config=config())
    prof = json.loads(json.dumps(g.profile))
    prof["uart"]["tx"] = 1  # the REPL console pin: refused
    g.write_file("board.json", prof)
    app = g.boot()
    assert app.status == "profile_error" and "console" in app.error
    assert [v for _, v in g.relay_pin.outputs] == [1 - g.unlock_level()]  # held locked
    prof["relay"]["pin"] = 12  # a strapping pin: not even the relay is built
    g2 = site.add("g2")
    g2.write_file("config.json", config("g2"))
    g2.write_file("board.json", prof)
    assert g2.boot().status == "profile_error"
    assert g2.rig.pin(12).outputs == []
    g3 = site.add("g3")
    assert g3.boot().status == "profile_error"  # no board.json at all


# ---- crashes and power cuts ----------------------------------------------------------------


def test_crash_in_the_middle_of_a_passage_locks_and_logs(site, passes):
    g = running(site)
    disp = g.rig.world.displays[-1]
    real_show = disp.show

    def broken():
        if any("Welcome" in t for _, _, t in disp._draft):
            raise RuntimeError("display controller hung")  # right after the unlock
        real_show()

    disp.show = broken
    p = passes.make()
    ps = g.visit(p.text)
    # the decision was logged and the relay opened, then the error locked it at once
    assert ps.decision.reason == reasons.INTERNAL_ERROR
    (start, end), = g.unlocked_intervals()
    assert end - start < 1
    err = [r for r in g.records() if r["kind"] == record.K_ERROR][-1]
    assert err["aux"] == reasons.INTERNAL_ERROR and err["pid"] == p.spec.cti[:8].hex()
    assert g.gate.counts["errors"] == 1
    disp.show = real_show
    ps = g.visit(passes.text(unit="3-1-1204"))
    assert ps.decision.reason == reasons.OK  # the gate carries on


def test_crash_while_measuring_never_opens(site, passes):
    g = running(site)

    def bad_read():
        raise ValueError("driver bug")

    g.gate.read_temp = bad_read
    ps = g.visit(passes.text())
    assert ps.decision.reason == reasons.INTERNAL_ERROR
    assert g.unlocked_intervals() == []
    assert kinds(g)[-1] == "error"


@given(cut_ms=st.integers(min_value=0, max_value=3000), allowed=st.booleans())
@settings(max_examples=15, deadline=None)
def test_power_cut_during_a_passage_loses_no_committed_record(cut_ms, allowed):
    with Site(NOW) as site:
        pm = PassMaker(ISSUER, COMMUNITY, NOW)
        g = running(site)
        g.visit(pm.text(unit="1-1-1"), walk=True)
        g.person(36.6 if allowed else 38.9)
        g.show(pm.text())
        site.run_for(cut_ms)
        before = g.records()
        g.power_cut()
        site.run_for(500)
        assert g.boot().status == "run"
        site.start(g)
        site.run_for(500)
        after = g.records()
        assert after[:len(before)] == before  # nothing committed was lost or changed
        seqs = [r["seq"] for r in after]
        assert seqs == list(range(1, len(after) + 1))
        assert after[len(before)]["kind"] == record.K_BOOT and after[len(before)]["aux"] == sim.PWRON_RESET
        assert g.app.relay.locked
        # after power-on the pin went straight to the locked level
        boot_t = [t for t, v in g.relay_pin.outputs][-1]
        assert [v for t, v in g.relay_pin.outputs if t >= boot_t] == [1 - g.unlock_level()]


def test_torn_record_after_a_power_cut_is_never_read(site, passes):
    g = running(site)
    g.visit(passes.text(), walk=True)
    before = g.records()
    g.power_cut()
    seg = sorted((g.flash / "data" / "log").glob("*.seg"))[-1]
    with open(seg, "ab") as f:
        f.write(record.pack(len(before) + 1, NOW, record.K_PASSAGE, 0, record.F_ALLOWED)[:19])  # cut mid-write
    assert g.boot().status == "run"
    after = g.records()
    assert after[:len(before)] == before
    assert after[len(before)]["seq"] == len(before) + 1 and after[len(before)]["kind_name"] == "boot"
    assert [r["seq"] for r in after] == list(range(1, len(after) + 1))


# ---- scans at the wrong moment -------------------------------------------------------------


def test_scan_during_a_passage_is_dropped(site, passes):
    g = running(site)
    a, b = passes.text(), passes.text(unit="3-1-1204")
    g.nobody()
    n = len(g.passages)
    g.show(a)
    site.run_for(1000)
    g.hide()
    g.show(b)  # a second person while the first is still at the thermometer
    ps = site.wait_passage(g, n)
    site.run_for(4000)
    assert ps.decision.reason == reasons.NO_READING
    assert len(g.passages) == n + 1  # b got no passage of its own
    assert g.gate.counts["dropped"] == 1


def test_scan_while_the_door_is_open_is_dropped_with_a_wait_message(site, passes):
    g = running(site)
    a, b = passes.text(), passes.text(unit="3-1-1204")
    g.person(36.6)
    n = len(g.passages)
    g.show(a)
    site.wait_passage(g, n)
    g.hide()
    site.run_for(500)
    g.open_door()
    site.run_for(300)
    g.show(b)
    site.run_for(500)
    g.hide()
    assert g.display_lines() == ["Please wait", "one at a time"]
    assert g.gate.counts["dropped"] == 1 and len(g.passages) == n + 1
    site.run_for(1000)
    g.close_door()
    site.run_for(500)
    assert g.app.relay.locked
    ps = g.visit(b)  # once the door is shut the next person is served
    assert ps.decision.reason == reasons.OK


def test_the_same_code_read_again_is_ignored(site, passes):
    g = running(site)
    a = passes.text()
    g.person(36.6)
    n = len(g.passages)
    g.show(a)
    site.wait_passage(g, n)
    g.hide()
    g.show(a)  # the phone is still held up to the scanner
    site.run_for(2000)
    assert len(g.passages) == n + 1 and g.gate.counts["repeats"] == 1
    assert len(g.unlocked_intervals()) == 1


def test_command_triggered_scanner_scans_when_someone_arrives(site, passes):
    g = running(site, board="esp32-wrover-maglock")
    gm = g.rig.gm65
    assert gm.mode == 1  # the profile's "command" mode was configured
    site.run_for(3000)
    assert gm.emitted == []  # nobody there: no scan session
    g.person(36.6)
    n = len(g.passages)
    g.show(passes.text())
    ps = site.wait_passage(g, n)
    assert ps.decision.reason == reasons.OK
    site.run_for(10000)  # the person lingers with the code in view: no second session
    assert len(gm.emitted) == 1 and len(g.passages) == n + 1


# ---- door alarms ---------------------------------------------------------------------------


def test_door_held_open_is_logged_with_its_duration(site, passes):
    g = running(site)
    g.visit(passes.text())
    g.person(36.6)
    g.show(passes.text(unit="1-2-3"))
    site.wait_passage(g)
    site.run_for(500)
    g.open_door()
    site.run_for(40000)
    g.close_door()
    site.run_for(500)
    held = [r for r in g.records() if r["kind"] == record.K_DOOR_HELD]
    closed = [r for r in g.records() if r["kind"] == record.K_DOOR_CLOSED]
    assert len(held) == 1 and held[0]["aux"] == 30
    assert len(closed) == 1 and closed[0]["aux"] == 40


def test_door_forced_open_is_urgent_and_sounds(site):
    g = running(site)
    urgent = []
    g.gate.on_urgent = urgent.append
    g.open_door()
    site.run_for(2000)
    forced = [r for r in g.records() if r["kind"] == record.K_DOOR_FORCED]
    assert len(forced) == 1 and forced[0]["urgent"] and forced[0]["alarm"]
    assert urgent == [forced[0]["seq"]]
    assert g.rig.pin(g.profile["indicator"]["buzzer"]).intervals(1)
    assert g.display_lines()[0] == "Door forced"
