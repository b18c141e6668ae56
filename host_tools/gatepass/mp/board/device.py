# The whole device on MicroPython: the simulated board (gatepass/sim bus models, loaded
# as the `sim` package) under firmware/main.py's setup() + serve(), a scripted crowd at
# the scanner and the thermometer, and a JSON report on stdout. Driven by
# gatepass.mp.wholedevice (host side); the spec is /spec.json on the device filesystem:
#   profile: the board profile (dict); ssid, password: the simulated router
#   wait: [[what, seconds], ...] before the crowd ("trusted", "bundle" version, "peer" pid)
#   crowd: [{name, text, obj_raw, amb_raw}] (obj_raw None: nobody at the thermometer)
#   drain_s: how long to wait for the uplink to empty the log afterwards
#   run_s: (no crowd) just serve this long, e.g. against a server it must refuse
#   preload: modules imported with main.py before heap_code is taken (the code a boot
#     loads later, e.g. drivers and p256 in setup(): code, not data, when measuring heap);
#     the report's "modules" lists what a boot had loaded at its end
#   boot: run firmware/boot.py first, as the board does after every reset (default true):
#     the OTA boot path (otaboot.py) picks the app set and arms a trial's watchdog
#   reset_cause: machine.reset_cause() of this boot (default power-on); the report's
#     "reset" is the cause that ended it (machine.reset(), the watchdog) or None, so the
#     host boots the same flash again (gatepass.mp.wholedevice.WholeDevice.run)
#   wait "release": [["release", seconds]] until the OTA download staged a release (the
#     board resets into it at the next idle moment: the run ends with "reset", and a
#     reset that comes before the next poll still counts as "wait_release": true)
#   poll_ms: how often the waits look (default 50; the firmware's own tasks run between)
import gc
import json
import sys
import time

import cpy

cpy.install()

import asyncio  # noqa: E402

import netsim  # noqa: E402
from sim import clock as simclock  # noqa: E402
from sim import machine as simmachine  # noqa: E402
from sim import network as simnet  # noqa: E402
from sim.rig import Rig  # noqa: E402

REPORT = {"events": []}
_peak = [0]


def note(*a):
    REPORT["events"].append(" ".join([str(x) for x in a]))


def heap():
    a = gc.mem_alloc()
    if a > _peak[0]:
        _peak[0] = a
    return a


def c_of(raw):
    # the sensor model takes degrees; the raw word round-trips exactly (double precision)
    return raw * 0.02 - 273.15


def build_board(spec):
    clk = simclock.current()
    rig = Rig(spec["profile"], clk)
    simmachine._world = rig.world
    sys.modules["machine"] = simmachine
    netsim.install(simnet)
    simnet.access_point(spec["ssid"], spec["password"], assoc_ms=300, beacon_ms=1000)
    amb = c_of(spec.get("amb_raw", 14862))
    rig.mlx.scene = lambda t: (amb, amb)  # nobody in front of the sensor
    return rig


async def until(pred, seconds, step_ms=50):
    t0 = time.ticks_ms()
    while not pred():
        if time.ticks_diff(time.ticks_ms(), t0) > seconds * 1000:
            return False
        simclock.current().poll()  # the watchdog model checks its deadline here
        heap()
        await asyncio.sleep_ms(step_ms)
    return True


async def visit(app, rig, v):
    from app import reasons

    g = app.gate
    amb = c_of(v.get("amb_raw", 14862))
    if v.get("obj_raw") is not None:
        obj = c_of(v["obj_raw"])
        rig.mlx.scene = lambda t: (obj, amb)
    before = g.counts["passages"]
    rig.gm65.show(v["text"])
    ok = await until(lambda: g.counts["passages"] > before, 20)
    rig.gm65.hide()
    rig.mlx.scene = lambda t: (amb, amb)
    if not ok:
        return {"name": v["name"], "reason": "TIMEOUT_IN_TEST"}
    ps = g.last
    d = ps.decision
    t = ps.temp
    body = None if t is None or isinstance(t, int) else t.body_cc
    await until(lambda: g.state != 1 and app.relay.locked, 15)  # relay pulse over
    await asyncio.sleep_ms(300)
    return {"name": v["name"], "reason": reasons.name(d.reason), "allow": d.allow,
            "seq": ps.seq, "body_cc": body}


async def scenario(app, rig, spec):
    up = app.uplink
    step = spec.get("poll_ms", 50)
    for what, secs in spec.get("wait", []):
        REPORT["waiting"] = what  # a reset in the middle of a wait ends the run here
        if what == "trusted":
            ok = await until(lambda: app.clock.trusted(), secs, step)
        elif what == "bundle":
            want = spec["bundle_version"]
            ok = await until(lambda: app.store.version >= want, secs, step)
        elif what == "peer":
            pid = bytes.fromhex(spec["peer_pid"])
            ok = await until(lambda: app.gate.apb.last(pid) is not None, secs, step)
        elif what == "release":
            ok = await until(lambda: app.ota is not None and app.ota.reset_wanted, secs, step)
        elif what == "confirmed":
            ok = await until(lambda: app.ota is not None and app.ota.boot_state == "confirmed", secs, step)
        else:
            ok = False
        note("wait", what, ok)
        REPORT["wait_" + what] = ok
    REPORT.pop("waiting", None)
    out = []
    for v in spec.get("crowd", []):
        out.append(await visit(app, rig, v))
    REPORT["crowd"] = out
    if spec.get("run_s"):
        await until(lambda: False, spec["run_s"])
    if spec.get("drain_s"):
        REPORT["drained"] = await until(lambda: app.log.pending() == 0, spec["drain_s"], 200)
    REPORT["pending"] = app.log.pending()
    REPORT["store_version"] = app.store.version
    REPORT["trusted"] = app.clock.trusted()
    t = app.uplink
    if t is not None:
        REPORT["uplink"] = {"exchanges": t.exchanges, "net_fails": t.net_fails, "state": t.state,
                            "peer_cursor": t.up.peer_cursor}
    REPORT["feeds"] = app.feeds
    REPORT["dead"] = app.dead
    REPORT["error"] = app.error
    _ota_report(app)


def _ota_report(app):
    u = app.ota
    if u is not None:
        REPORT["ota"] = {"state": u.release_state(), "running": u.running, "failed": u.failed,
                         "error": u.error, "refused": u.refused, "progress": list(u.progress())}


async def top(app, rig, spec):
    serve = asyncio.create_task(app.serve())
    try:
        await scenario(app, rig, spec)
    finally:
        serve.cancel()
        app.relay.safe()


def _forget_firmware():
    """The simulator's models imported firmware modules (app.board) to check the profile;
    on a board nothing has run before boot.py: drop them, so that boot.py decides where
    `app` and `drivers` come from (the USB set, or an OTA slot first on sys.path)."""
    for name in list(sys.modules):
        if name in ("app", "drivers") or name.startswith("app.") or name.startswith("drivers."):
            del sys.modules[name]


def _relay_report(rig, spec):
    r = spec["profile"].get("relay") or {}
    pin = rig.world.pins.get(r.get("pin"))
    unlock = 1 if (r.get("lock", "strike") == "strike") == r.get("active_high", True) else 0
    # a pad nobody configured stays high-impedance all boot (the relay board unpowered)
    levels = [lv for _t, lv in pin.history] if pin is not None else [None]
    REPORT["relay_levels"] = levels
    REPORT["relay_unlocked_ever"] = unlock in levels


def main():
    with open("/spec.json") as f:
        spec = json.loads(f.read())
    gc.collect()
    REPORT["heap_start"] = heap()
    rig = build_board(spec)
    if spec.get("reset_cause") is not None:
        rig.world.reset_cause = spec["reset_cause"]
    from sim.world import WDT_RESET, SimReset

    app = None
    stage = "boot"
    REPORT["reset"] = None
    try:
        if spec.get("boot", True):
            _forget_firmware()
            import boot  # noqa: F401 - firmware/boot.py: what the board runs first

            REPORT["path0"] = sys.path[0]
        stage = "import"
        try:
            import main as fw_main  # on a board: boot.py, then main.py's imports
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - main.py (or an app module) crashed on import
            # the board sits at the REPL: only a watchdog (boot.py arms one for a trial
            # set) resets it; without one it stays there, door as the reset left it
            REPORT["import_error"] = repr(e)
            sys.print_exception(e)
            if rig.world.wdt is not None:
                rig.world.reset(WDT_RESET)
                raise SimReset(WDT_RESET)
            REPORT["hung"] = True
            raise SystemExit(0)

        for m in spec.get("preload", []):
            __import__(m)
        gc.collect()
        REPORT["heap_code"] = heap()  # firmware and simulator modules loaded
        stage = "setup"
        app = fw_main.setup("/")
        stage = "serve"
        REPORT["status"] = app.status
        REPORT["setup_error"] = app.error
        if app.status == fw_main.RUN:
            asyncio.run(top(app, rig, spec))
    except MemoryError as e:  # escaped from `stage` (setup() must never let one out)
        REPORT["oom_escaped"] = stage
        REPORT["oom"] = str(e)
    except SimReset as e:  # machine.reset() or the watchdog: the host boots the flash again
        REPORT["reset"] = e.cause
        if app is not None:
            _ota_report(app)
            # the switch resets at the gate's next idle beat, which may come before the
            # wait's next poll: the release was staged all the same
            if REPORT.get("waiting") == "release" and app.ota is not None and app.ota.reset_wanted:
                REPORT["wait_release"] = True
    except SystemExit:
        pass
    _relay_report(rig, spec)
    gc.collect()
    REPORT["lookups"] = netsim.lookups
    REPORT["relay_locked"] = app.relay.locked if app is not None and app.relay is not None else None
    REPORT["wdt"] = rig.world.wdt is not None
    REPORT["heap_end"] = heap()
    REPORT["heap_peak"] = _peak[0]
    REPORT["modules"] = sorted(sys.modules)
    # streamed: one big JSON string is the largest block a boot ever asks for, and under
    # the heap cap a fragmented heap may not have it (MemoryError after a good run)
    sys.stdout.write("@@REPORT@@")
    json.dump(REPORT, sys.stdout)
    sys.stdout.write("\n")


main()
