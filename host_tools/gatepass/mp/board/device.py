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
    for what, secs in spec.get("wait", []):
        if what == "trusted":
            ok = await until(lambda: app.clock.trusted(), secs)
        elif what == "bundle":
            want = spec["bundle_version"]
            ok = await until(lambda: app.store.version >= want, secs)
        elif what == "peer":
            pid = bytes.fromhex(spec["peer_pid"])
            ok = await until(lambda: app.gate.apb.last(pid) is not None, secs)
        else:
            ok = False
        note("wait", what, ok)
        REPORT["wait_" + what] = ok
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


async def top(app, rig, spec):
    serve = asyncio.create_task(app.serve())
    try:
        await scenario(app, rig, spec)
    finally:
        serve.cancel()
        app.relay.safe()


def main():
    with open("/spec.json") as f:
        spec = json.loads(f.read())
    gc.collect()
    REPORT["heap_start"] = heap()
    rig = build_board(spec)
    app = None
    stage = "import"
    try:
        import main as fw_main  # on a board: boot.py, then main.py's imports

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
    gc.collect()
    REPORT["lookups"] = netsim.lookups
    REPORT["relay_locked"] = app.relay.locked if app is not None and app.relay is not None else None
    REPORT["wdt"] = rig.world.wdt is not None
    REPORT["heap_end"] = heap()
    REPORT["heap_peak"] = _peak[0]
    REPORT["modules"] = sorted(sys.modules)
    print("@@REPORT@@" + json.dumps(REPORT))


main()
