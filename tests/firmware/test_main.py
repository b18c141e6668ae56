"""firmware/main.py: how the device is put together from its files, across reboots."""
from __future__ import annotations

import functools
import json

import pytest

from app import reasons, record, roles
from gate_helpers import COMMUNITY, NOW, config_trusting, passes, site  # noqa: F401 (fixtures)
from gatepass import sim
from gatepass.issuing import bundles
from gatepass.issuing import keys as keylib
from gatepass.mp.fw import fw_import
from gatepass.sim.simgate import PassMaker

with sim.installed():  # main.py imports machine: the simulator's while it loads
    main = fw_import("main")

ISSUER = keylib.from_scalar(0x3F3F3F, kid=b"\x07")
NEW_ISSUER = keylib.from_scalar(0x4A4A4A, kid=b"\x08")
BUNDLE_KEY = keylib.from_scalar(0xB2B2B2, kid=b"\xbb\x03")
config = functools.partial(config_trusting, ISSUER, BUNDLE_KEY)  # config(name="g", direction="in", **kw)


def boot(g, site, **kw):
    app = g.boot(**kw)
    assert app.status == main.RUN, app.error
    site.start(g)
    site.run_for(200)
    return app


def kinds(g):
    return [r["kind_name"] for r in g.records()]


def test_paths_join_under_the_root():
    assert main.path("/", "config.json") == "/config.json"
    assert main.path("/", "data", "log") == "/data/log"
    assert main.path("/tmp/flash/", "data") == "/tmp/flash/data"
    assert main.path("/tmp/flash", "board.json") == "/tmp/flash/board.json"


def test_first_boot_lays_out_the_flash_and_logs_boot_and_config(site):
    g = site.add("g", config=config())
    app = boot(g, site, reset_cause=sim.PWRON_RESET)
    data = g.flash / "data"
    assert sorted(p.name for p in (data / "log").iterdir()) == ["00000001.seg", "cursor", "epoch"]
    assert (data / "passback.bin").stat().st_size == 4096 * 16
    assert (data / "config.crc").exists()
    assert kinds(g) == ["boot", "config"]
    boot_rec = g.records()[0]
    assert boot_rec["aux"] == sim.PWRON_RESET and not boot_rec["time_trusted"]
    assert app.gate.direction == roles.IN and app.gate.community == COMMUNITY
    assert g.display_lines() == ["g", "ready"]


def test_config_event_only_when_the_config_changed(site):
    g = site.add("g", config=config())
    boot(g, site)
    g.stop()
    boot(g, site)  # same file: no second K_CONFIG
    assert kinds(g) == ["boot", "config", "boot"]
    g.stop()
    g.write_file("config.json", config(gate_extra=None) | {"gate": "north door"})
    boot(g, site)
    configs = [r["aux"] for r in g.records() if r["kind"] == record.K_CONFIG]
    assert kinds(g)[-2:] == ["boot", "config"] and len(configs) == 2 and configs[0] != configs[1]


def test_reset_cause_of_each_boot_is_recorded(site):
    g = site.add("g", config=config())
    boot(g, site)
    g.rig.world.reset(sim.SOFT_RESET)
    g.stop()
    boot(g, site)  # machine.reset_cause() of the simulated chip
    assert [r["aux"] for r in g.records() if r["kind"] == record.K_BOOT] == [sim.PWRON_RESET, sim.SOFT_RESET]


def test_seq_continues_and_time_never_goes_back_after_a_power_cut(site, passes):
    g = site.add("g", config=config())
    app = boot(g, site)
    app.gate.set_time(site.now(), 1)
    g.visit(passes.text(), walk=True)
    site.run_for(120000)
    g.visit(passes.text(unit="3-1-1204"), walk=True)
    last = g.records()[-1]
    g.power_cut()  # the RTC restarts at the epoch: 1970 on this port
    site.run_for(3000)
    assert g.wall() < 10
    boot(g, site)
    recs = g.records()
    first = recs[len(recs) - 1]
    assert first["kind_name"] == "boot" and first["seq"] == last["seq"] + 1
    assert first["time"] >= last["time"] and not first["time_trusted"]  # bumped to the log
    ps = g.visit(passes.text(unit="3-2-501"))
    assert ps.decision.reason == reasons.OK_TIME_UNTRUSTED and ps.t >= last["time"]


def test_applied_bundle_survives_a_reboot(site, passes):
    g = site.add("g", "out", config=config(direction="out"))
    app = boot(g, site)
    app.gate.set_time(site.now(), 1)
    data = bundles.build(BUNDLE_KEY, bundles.Content(COMMUNITY, mode=1, threshold_cc=3700,
                                                     quarantined=[(5, 1, 302)], settings={"unlock_s": 3}),
                         7, site.now())
    assert app.store.apply(data) == (0, 7)
    assert app.gate.settings.mode == 1 and app.gate.bundle_version == 7
    g.stop()
    app = boot(g, site)
    gt = app.gate
    assert gt.bundle_version == 7 and gt.settings.mode == 1 and gt.settings.unlock_s == 3
    assert gt.settings.threshold == 37.0
    gt.set_time(site.now(), 1)
    assert g.visit(passes.text()).decision.reason == reasons.MODE_CONTROL
    assert g.visit(passes.text(role="medical", unit="5-1-302")).decision.reason == reasons.OK_EXEMPT
    assert g.visit(passes.text(unit="5-1-302", role="resident")).decision.reason == reasons.QUARANTINED


def test_bundle_rotates_the_issuer_keys(site, passes):
    g = site.add("g", config=config())
    app = boot(g, site)
    app.gate.set_time(site.now(), 1)
    new = PassMaker(NEW_ISSUER, COMMUNITY, NOW)
    assert g.visit(new.text()).decision.reason == reasons.UNKNOWN_KID
    data = bundles.build(BUNDLE_KEY, bundles.Content(COMMUNITY, keys=[(NEW_ISSUER.kid, NEW_ISSUER.pub65)]), 1,
                         site.now())
    assert app.store.apply(data) == (0, 1)
    assert g.visit(new.text(unit="3-1-1204")).decision.reason == reasons.OK
    assert g.visit(passes.text()).decision.reason == reasons.UNKNOWN_KID  # the old key is gone
    g.stop()
    app = boot(g, site)
    app.gate.set_time(site.now(), 1)
    assert set(app.gate.keys) == {NEW_ISSUER.kid}


def test_a_bundle_key_that_is_not_a_point_is_skipped(site, passes):
    g = site.add("g", config=config())
    app = boot(g, site)
    app.gate.set_time(site.now(), 1)
    bad = (b"\x66", b"\x04" + b"\x01" * 64)  # right shape, not on the curve
    data = bundles.build(BUNDLE_KEY, bundles.Content(COMMUNITY, keys=[bad]), 1, site.now())
    assert app.store.apply(data) == (0, 1)
    errs = [r for r in g.records() if r["kind"] == record.K_ERROR]
    assert len(errs) == 1 and errs[0]["urgent"] and errs[0]["aux"] == reasons.UNKNOWN_KID
    assert g.visit(passes.text()).decision.reason == reasons.OK  # configured key kept
    g.stop()
    assert g.boot().status == main.RUN  # and it does not brick the next boot


def test_settings_from_the_config_apply_until_a_bundle_arrives(site, passes):
    g = site.add("g", config=config(settings={"unlock_s": 2, "passback": "off"}))
    app = boot(g, site)
    assert app.gate.settings.unlock_s == 2
    app.gate.set_time(site.now(), 1)
    p = passes.make()
    g.visit(p.text)
    (s, e), = g.unlocked_intervals()
    assert e - s == pytest.approx(2000, abs=1)
    assert g.visit(p.text).decision.allow  # passback off


def test_firmware_version_comes_from_the_deploy_stamp(tmp_path):
    (tmp_path / "gatepass.json").write_text(json.dumps({"version": "0.1.0", "build": "abc"}))
    assert main._firmware_version(str(tmp_path)) == "0.1.0"
    assert main._firmware_version(str(tmp_path / "nowhere")) == ""


def test_global_exception_handler_locks_and_logs(site, passes):
    g = site.add("g", config=config())
    app = boot(g, site)
    app.gate.set_time(site.now(), 1)
    g.person(36.6)
    g.show(passes.text())
    site.wait_passage(g)
    assert not app.relay.locked
    app.crash(RuntimeError("escaped"))
    assert app.status == main.CRASHED and app.relay.locked
    assert g.records()[-1]["kind_name"] == "error" and "escaped" in app.error
    # no more feeding: the watchdog resets the board
    with pytest.raises(sim.SimReset):
        site.run_for(20000)


def test_stop_keeps_the_watchdog_fed_for_the_technician(site):
    g = site.add("g", config=config())
    app = boot(g, site)
    with sim.installed(g.rig.world):
        app.stop()  # Ctrl-C at the REPL
    for t in app.tasks:
        t.cancel()
    site.run_for(30000)
    assert g.rig.world.resets == [] and app.relay.locked and app.status == main.STOPPED


def test_uplink_runs_beside_the_gate_when_a_server_is_configured(site, passes):
    cfg = config(server={"url": "http://127.0.0.1:9", "allow_http": True})
    g = site.add("g", config=cfg)
    app = boot(g, site)
    assert app.uplink is not None and len(app.tasks) == 6
    app.gate.set_time(site.now(), 1)
    # the server is unreachable: the gate does not notice
    ps = g.visit(passes.text())
    assert ps.decision.reason == reasons.OK and ps.ms < 2000
    site.run_for(30000)
    assert app.dead is None and g.rig.world.resets == []


def test_no_wifi_configured_is_not_a_dead_task(site, passes):
    cfg = config(server={"url": "http://127.0.0.1:9", "allow_http": True})  # no wifi section
    g = site.add("g", config=cfg)
    app = g.boot(wifi="auto")  # the device default: drivers.wifi.WiFi from the config
    assert app.status == main.RUN and app.wifi is not None
    site.start(g)
    site.run_for(30000)
    assert app.tasks[5].done()  # the Wi-Fi supervisor has nothing to do and returned
    assert app.dead is None and g.rig.world.resets == [] and app.feeds >= 29
