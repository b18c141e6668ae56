"""The demo with a community server: simulated gates talking to a real `gatepass server`.

    res = demoserver.play(console, issuer, bundle_key, "greenhill", now, issued, out_dir)

1. the server is set up in out_dir/server (SQLite, migrations): the community with the
   demo's pass issuer key and bundle signing key, one device per gate (entrance, exit,
   and more pairs with n_gates > 2), the lost phone's pass revoked and a unit under
   quarantine (what the crowd script expects of bundle v1);
2. `gatepass server` runs in a subprocess on 127.0.0.1 (its first staff account is
   printed);
3. the gates run the real firmware (main.setup + app.serve) on simulated boards, on the
   community's (simulated) Wi-Fi router, with the uplink over real HTTP to the server:
   they take their time and the signed bundle from it before the crowd arrives;
4. the scripted crowd (gatepass.sim.crowd) passes; its "bundle" steps are staff actions on
   the server (community mode), which the gates fetch as a new signed bundle;
5. every gate's log is uploaded; the events stored on the server are counted against
   the gates' flash; the dashboard URL and login are printed. With serve=True the server
   and the gates keep running until Ctrl-C.

`python -m gatepass.demo.server setup ...` is the server-side step 1 (run in a
subprocess: Django is configured there, never in the demo process).
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ..issuing import keys as keylib
from ..sim import crowd

GATE_NAMES = ("entrance", "exit")
NOT_SERVING = ("not serving: the server and the gates stop now, so the dashboard above goes away "
               "(output is not a terminal, or --no-serve). To keep it serving: make demo DEMO_ARGS=--serve "
               "(or python -m gatepass.demo --serve), Ctrl-C to stop")
DEMO_ENV = {"GATEPASS_LANGUAGE": "zh-hans", "GATEPASS_TIME_ZONE": "Asia/Shanghai"}
COMMUNITY_NAMES = {"greenhill": "青山花园"}
# the gates' Wi-Fi (gatepass.sim.network's shared router: step 6 switches it off)
WIFI = {"ssid": "gate-net", "password": "demo-wifi-pass"}


def gate_plan(n_gates: int) -> list[tuple[str, str, str]]:
    """[(device id, gate label, direction)]: entrance/exit pairs."""
    out = []
    for i in range(max(2, n_gates)):
        pair = i // 2 + 1
        name = GATE_NAMES[i % 2] + ("" if pair == 1 else "-%d" % pair)
        out.append((name, "Gate %d" % pair, "in" if i % 2 == 0 else "out"))
    return out


# ---------------------------------------------------------------- server side (subprocess)


def _setup_main(spec_path: str, db: str, home: str) -> int:
    import datetime as dt

    from ..server import bundlesvc, cli, setup

    spec = json.loads(Path(spec_path).read_text())
    setup(db=db, home=home)
    cli.migrate()
    from django.utils import timezone

    from ..server.models import Community, Pass, Quarantine

    ik = keylib.load(Path(spec["issuer_pem"]), bytes.fromhex(spec["issuer_kid"]))
    bk = keylib.load(Path(spec["bundle_pem"]), bytes.fromhex(spec["bundle_kid"]))
    c = bundlesvc.create_community(spec["community"], spec["name"], bundle_key=bk, issuer_key=ik)
    devices = {}
    for did, gate, direction in spec["gates"]:
        devices[did] = cli.add_device(did, c.id, gate, direction, server_url=spec["url"])
    now = timezone.now()
    for cti in spec["revoked"]:
        Pass.objects.create(community=c, cti=cti, nbf=now - dt.timedelta(days=1), exp=now + dt.timedelta(days=30),
                            revoked=True, revoked_reason="phone lost (demo)")
    for b, e, r in spec["quarantined"]:
        Quarantine.objects.create(community=c, building=b, entrance=e, room=r, note="demo")
    print(json.dumps({"devices": devices}))
    return 0


def _mode_main(db: str, home: str, community: str, mode: int) -> int:
    from ..server import setup

    setup(db=db, home=home)
    from ..server.models import Community

    from ..server import audit

    c = Community.objects.get(pk=community)
    before = c.mode_name
    c.mode = mode
    c.save()
    audit.record(None, "mode", c.pk, c.pk, "%s -> %s (demo)" % (before, c.mode_name))
    print(json.dumps({"bundle_version": Community.objects.get(pk=community).bundle_version}))
    return 0


def _tool(*args: str, timeout: float = 120) -> str:
    r = subprocess.run([sys.executable, "-m", "gatepass.demo.server", *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode:
        raise RuntimeError("gatepass.demo.server %s failed:\n%s%s" % (args[0], r.stdout, r.stderr[-3000:]))
    return r.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------- the demo process


class Server:
    """The demo's server: database, subprocess, staff login."""

    def __init__(self, out: Path, port: int | None = None):
        from ..server.testing import LiveServer, free_port

        self.home = out / "server"
        self.home.mkdir(parents=True, exist_ok=True)
        self.db = "sqlite:///" + str((self.home / "gatepass.sqlite3").resolve())
        self.port = port or free_port()
        # the demo community's staff pages: Chinese unless the browser asks for English,
        # times in China Standard Time (both shown on every page)
        self.live = LiveServer(self.db, self.home, port=self.port, env=DEMO_ENV)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def sql(self, query: str, *args):
        with sqlite3.connect(self.db[len("sqlite:///"):], timeout=30) as conn:
            return conn.execute(query, args).fetchall()

    def bundle_version(self, community: str) -> int:
        return self.sql("SELECT bundle_version FROM gatepass_community WHERE id = ?", community)[0][0]

    def events(self, device: str) -> int:
        return self.sql("SELECT count(*) FROM gatepass_event WHERE device_id = ?", device)[0][0]

    def stop(self) -> None:
        self.live.stop()


def _server_bundles(srv: Server, community: str, state: dict):
    """crowd's bundle step as a staff action on the server: change the community mode
    (v1's revocation and quarantine were set up with the community), then wait until
    every gate fetched and applied the new signed bundle."""

    def apply(site, gates, cast, bundle_key, v):
        if v.mode != state["mode"]:
            _tool("mode", "--db", srv.db, "--home", str(srv.home), "--community", community, "--mode", str(v.mode))
            state["mode"] = v.mode
        target = srv.bundle_version(community)
        apps = [g.app for g in state["all_gates"]]
        site.run_until(lambda: all(a.store.version >= target for a in apps), 180_000, 100)
        return ["applied" if g.app.store.version >= target else "not applied (v%d < v%d)" % (g.app.store.version, target)
                for g in gates.values()]

    return apply


def play(console, issuer: keylib.IssuerKey, bundle_key: keylib.IssuerKey, community: str, now: int,
         issued, out: Path, n_gates: int = 2, serve: bool = False, port: int | None = None,
         pace_s: float = 0.0, dilation: float = 5.0):
    """The whole server demo; returns the crowd's Result (ok: every decision as
    scripted and every event stored on the server)."""
    from ..sim import network as simnet
    from ..sim.netloop import NetClock
    from ..sim.simgate import Site

    out = Path(out)
    cast = crowd.Cast.issue(issuer, community, now, issued)
    srv = Server(out, port)
    kdir = out / "server" / "keys"
    ipem, _ = keylib.write(issuer, kdir, "issuer", force=True)
    bpem, _ = keylib.write(bundle_key, kdir, "bundle", force=True)
    plan = gate_plan(n_gates)
    spec = {"community": community, "name": COMMUNITY_NAMES.get(community, community), "url": srv.url,
            "issuer_pem": str(ipem), "issuer_kid": issuer.kid.hex(),
            "bundle_pem": str(bpem), "bundle_kid": bundle_key.kid.hex(), "gates": plan,
            "revoked": [c.hex() for c in cast.revoked], "quarantined": [list(u) for u in cast.quarantined]}
    spec_path = out / "server" / "demo-spec.json"
    spec_path.write_text(json.dumps(spec))
    console.print("setting up the community server in %s (SQLite, migrations)" % srv.home)
    devices = json.loads(_tool("setup", "--spec", str(spec_path), "--db", srv.db, "--home", str(srv.home)))["devices"]
    srv.live.start()
    login, password = srv.live.staff or ("?", "(an account already existed: see earlier output)")
    console.print("gatepass server on %s  (device API %s/api/device/v1/)" % (srv.url, srv.url))
    console.print("first staff account:  login [bold]%s[/bold]  password [bold]%s[/bold]" % (login, password))

    site = Site(now, clock=NetClock(dilation))
    site.wall = time.time  # type: ignore[method-assign]  # the server checks request times
    simnet.access_point(ssid=WIFI["ssid"], password=WIFI["password"])
    gates = {}
    try:
        for did, _label, _direction in plan:
            cfg = dict(devices[did])
            cfg["board"] = "esp32-devkitc" if did.startswith("entrance") else "esp32-wrover-maglock"
            cfg["server"] = {"url": srv.url, "allow_http": True}
            cfg["wifi"] = dict(WIFI)
            flash = out / "server" / "flash" / did  # not the offline demo's gates
            flash.mkdir(parents=True, exist_ok=True)
            g = site.add(did, config=cfg, board=cfg["board"], flash_dir=flash, chinese=True)
            app = g.boot(wifi="auto")  # drivers.wifi.WiFi from the config, as on the device
            if app.status != "run" or app.uplink is None:
                raise RuntimeError("%s: %s: %s" % (did, app.status, app.error))
            app.uplink.up.status_ms = 5000  # heartbeat (and bundle check) every 5 s
            site.start(g)
            gates[did] = g
        # no site.pair() here: the entrance learns the exit's passages from the server
        target = srv.bundle_version(community)
        ready = site.run_until(lambda: all(g.app.clock.trusted() and g.app.store.version >= target
                                           for g in gates.values()), 120_000, 100)
        console.print("%d gates online: time from the server, bundle v%d applied%s" % (
            len(gates), target, "" if ready else "  [red](not all: see the gate summary)[/red]"))

        state = {"mode": 0, "all_gates": list(gates.values())}
        rep = crowd.Reporter(console, pace_s)
        visits = crowd.script(cast, now)
        hook = _server_bundles(srv, community, state)
        res = crowd.run(site, {"entrance": gates["entrance"], "exit": gates["exit"]}, cast, visits, rep,
                        bundle_key=bundle_key, apply_bundle=hook)
        rep.summary(res, {"entrance": gates["entrance"], "exit": gates["exit"]})

        drained = site.run_until(lambda: all(g.app.log.pending() == 0 for g in gates.values()), 300_000, 200)
        from rich.table import Table

        t = Table(title="uploaded to the server", box=None, header_style="bold")
        for col in ("gate", "events on flash", "events on server", "uplink", "bundle"):
            t.add_column(col)
        all_stored = drained
        for did, g in gates.items():
            n_dev = len(g.records())
            n_srv = srv.events(did)
            all_stored &= n_dev == n_srv
            s = g.app.uplink.summary()
            t.add_row(did, str(n_dev), str(n_srv), s["state"], "v%d" % s["bundle"],
                      style=None if n_dev == n_srv else "red")
        console.print(t)
        if not all_stored:
            res.mismatches.append((crowd.Visit("upload", action="note"), "events missing on the server"))
        if srv.live.staff:
            from . import community as flows

            console.print("[bold]the community's own workflows (issue 14)[/bold]")
            for p in flows.play(console, srv.url, login, password, gates, site, community, srv.db):
                res.mismatches.append((crowd.Visit("community", action="note"), p))
        console.print("dashboard: [bold]%s/[/bold]  login [bold]%s[/bold] / [bold]%s[/bold]" % (srv.url, login, password))
        console.print("  staff pages in Chinese (工作人员页面为中文); English: a browser asking for it, or the "
                      "language switch on every page")
        if serve:
            console.print("serving; the gates keep running (Ctrl-C to stop)")
            try:
                while True:
                    site.run_for(1000)
                    time.sleep(max(0.0, 1.0 - 1.0 / dilation))
            except KeyboardInterrupt:
                console.print("stopped")
        else:
            console.print(NOT_SERVING, soft_wrap=True)
        return res
    finally:
        site.close()
        srv.stop()


def _main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m gatepass.demo.server")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--spec", required=True)
    s.add_argument("--db", required=True)
    s.add_argument("--home", required=True)
    m = sub.add_parser("mode")
    m.add_argument("--db", required=True)
    m.add_argument("--home", required=True)
    m.add_argument("--community", required=True)
    m.add_argument("--mode", type=int, required=True)
    r = sub.add_parser("run", help="the server demo on its own (make demo runs it as its last step)")
    r.add_argument("--out", default=None, help="output directory (default: a new temporary one)")
    r.add_argument("--gates", type=int, default=2, help="simulated gates (entrance/exit pairs)")
    r.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    r.add_argument("--serve", action="store_true", help="keep the server and the gates running")
    r.add_argument("--pace", type=float, default=0.0, help="real seconds between report rows")
    a = p.parse_args(argv)
    if a.cmd == "setup":
        return _setup_main(a.spec, a.db, a.home)
    if a.cmd == "mode":
        return _mode_main(a.db, a.home, a.community, a.mode)
    return run_cli(a.out, a.gates, a.port, a.serve, a.pace)


def run_cli(out=None, n_gates=2, port=None, serve=False, pace_s=0.0, community="greenhill") -> int:
    """Fresh keys, the sample roster's passes, then play(); exit status 0 when every
    decision matched the script and every event reached the server."""
    import tempfile

    from ..mp import compat as mpcompat

    mpcompat.install()
    mpcompat.add_firmware_path()
    con = crowd.console()
    out_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="gatepass-demo-server-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    res = play(con, keylib.generate(), keylib.generate(), community, int(time.time()), None, out_dir,
               n_gates=n_gates, serve=serve, port=port, pace_s=pace_s)
    con.print("[green]server demo OK[/green]" if res.ok else "[bold red]server demo FAILED[/bold red]")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
