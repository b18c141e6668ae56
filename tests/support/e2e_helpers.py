"""End-to-end harness: a real `gatepass server` process on 127.0.0.1, a fault proxy in
front of it, and simulated gates running the real firmware (main.setup, app/, drivers/)
whose uplink talks HTTP through the proxy.

Time: the gates share a NetClock (virtual time that jumps while nothing is on the wire,
follows real time x `dilation` while a socket waits). The server runs on real time, so a
device whose virtual clock ran ahead gets `stale_time` answers and re-syncs, as a real
device with a drifting clock would.
"""
from __future__ import annotations

import sqlite3
import struct
import time
from pathlib import Path

from faultproxy import FaultProxy
from gatepass import sim
from gatepass.sim import simgate
from gatepass.server.testing import LiveServer, manage
from gatepass.sim import network as simnet
from gatepass.sim.netloop import NetClock

WIFI = {"ssid": "gate-net", "password": "pw"}
# one Sim.run_for/until call may cost this much real time (the slowest takes ~10 s on a
# quiet machine, ~4x that with 8 sessions on 2 cores); beyond it the test fails with the
# gates' state instead of hanging silently
REAL_CAP_S = 300
_SLICE_MS = 10_000  # run_for checks the real time between slices of this much virtual time


class Srv:
    """The live server, its database (read directly, independent of the code under test)
    and a fault proxy in front of it."""

    def __init__(self, server: LiveServer, db: str, home: Path):
        self.server = server
        self.db = db
        self.home = home
        self.seeded = server.seeded
        secrets = {d: bytes.fromhex(c["secret"]) for d, c in self.seeded["devices"].items()}
        self.proxy = FaultProxy(server.port, secrets)

    def sql(self, query: str, *args):
        with sqlite3.connect(self.db[len("sqlite:///"):], timeout=30) as conn:
            return conn.execute(query.replace("%s", "?"), args).fetchall()

    def shell(self, code: str) -> str:
        """Run Django ORM code against the live database (a staff action)."""
        return manage(self.db, self.home, "shell", "-c", code)

    def rows(self, did: str, epoch: str | None = None) -> dict[int, bytes]:
        """seq -> the 32-byte record rebuilt from the stored columns (of one log epoch,
        default: every device log, not the server's own events)."""
        from app import record

        out = {}
        for seq, t, kind, reason, flags, role, pid, body, obj, amb, aux in self.sql(
                "SELECT seq, time_raw, kind, reason, flags, role, pid, body, obj, amb, aux FROM gatepass_event "
                "WHERE device_id = %s AND epoch = %s" if epoch else
                "SELECT seq, time_raw, kind, reason, flags, role, pid, body, obj, amb, aux FROM gatepass_event "
                "WHERE device_id = %s AND epoch <> 'server'", *((did, epoch) if epoch else (did,))):
            out[seq] = record.pack(seq, t, kind, reason, flags, record.NO_ROLE if role is None else role,
                                   bytes.fromhex(pid), record.NO_TEMP if body is None else body,
                                   record.NO_TEMP if obj is None else obj, record.NO_TEMP if amb is None else amb, aux)
        return out

    def count(self, did: str, epoch: str | None = None) -> tuple[int, int]:
        if epoch:
            return self.sql("SELECT count(*), count(DISTINCT seq) FROM gatepass_event WHERE device_id = %s "
                            "AND epoch = %s", did, epoch)[0]
        return self.sql("SELECT count(*), count(DISTINCT seq) FROM gatepass_event WHERE device_id = %s "
                        "AND epoch <> 'server'", did)[0]

    def issuer(self):
        """The community's pass issuer key (its private half lives on the server)."""
        from cryptography.hazmat.primitives import serialization

        from gatepass.issuing import keys

        from gatepass.server import keystore

        kid, pem = self.sql("SELECT kid, private_pem FROM gatepass_issuerkey WHERE private_pem != '' "
                            "ORDER BY created_at LIMIT 1")[0]
        # encrypted at rest: the key-encryption key is the server's file, outside the database
        kek = (Path(self.home) / keystore.FILE_NAME).read_text().split()
        pem = keystore.decrypt_with(pem, kek)
        return keys.IssuerKey(serialization.load_pem_private_key(pem.encode(), None), bytes.fromhex(kid))

    def close(self):
        self.proxy.close()
        self.server.stop()


def start_server(tmp_path_factory, name: str, devices) -> Srv:
    home = tmp_path_factory.mktemp(name)
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    server = LiveServer(db, home, seed={"community": "maple", "name": "Maple Court", "devices": devices}).start()
    return Srv(server, db, home)


def device_records(g) -> dict[int, bytes]:
    """seq -> raw 32-byte record, read from the gate's flash (segment files)."""
    from app import record

    out = {}
    for seg in sorted((g.flash / "data" / "log").glob("*.seg")):
        data = seg.read_bytes()
        for off in range(0, len(data) - len(data) % 32, 32):
            if record.valid(data, off):
                out[struct.unpack_from("<I", data, off)[0]] = data[off:off + 32]
    return out


def device_epoch(g) -> str:
    """The epoch of the gate's event log, read from its flash (app/eventlog.py)."""
    data = (g.flash / "data" / "log" / "epoch").read_bytes()
    assert len(data) == 12
    return data[:8].hex()


def assert_exactly_once(srv: Srv, g) -> int:
    """Everything the gate's log holds is on the server once, byte for byte, under the
    log's epoch, and nothing else is there under it."""
    dev = device_records(g)
    ep = device_epoch(g)
    got = srv.rows(g.name, ep)
    n, distinct = srv.count(g.name, ep)
    assert n == distinct == len(got)
    missing = sorted(set(dev) - set(got))
    extra = sorted(set(got) - set(dev))
    assert not missing and not extra, (g.name, missing[:20], extra[:20])
    diff = [s for s in dev if dev[s] != got[s]]
    assert not diff, (g.name, diff[:10])
    return len(dev)


class Sim:
    """A Site on a NetClock with gates provisioned from the server's seed."""

    def __init__(self, srv: Srv, dilation: float = 10.0, skew_s: float = 0.0):
        self.srv = srv
        self.clock = NetClock(dilation)
        self.site = simgate.Site(start_unix=int(time.time()), clock=self.clock)
        # The boards' RTC follows the host's real clock (plus skew_s), like the server's:
        # virtual time jumps ahead while nothing is on the wire, and a device clock tied
        # to it would drift by minutes per simulated minute and re-sync on every answer.
        self.skew_s = skew_s
        self.site.wall = self.wall  # type: ignore[method-assign]
        simnet.access_point(ssid=WIFI["ssid"], password=WIFI["password"])
        self.tasks = []

    def wall(self) -> float:
        return time.time() + self.skew_s

    def gate(self, did: str, url: str | None = None, wifi: bool = False, **extra):
        cfg = dict(self.srv.seeded["devices"][did])
        cfg["board"] = "esp32-devkitc"
        cfg["server"] = {"url": url or self.srv.proxy.url, "allow_http": True}
        if wifi:
            cfg["wifi"] = dict(WIFI)
        cfg.update(extra)
        return self.site.add(did, config=cfg)

    def start_uplink(self, g, wifi: bool = False, **tune):
        """Boot the firmware and run only its network tasks (Wi-Fi supervisor, uplink):
        events come from gate.passage_now, so the 20 ms pollers of the full app do not
        slow hours of simulated time down."""
        app = g.boot(wdt=False)
        assert app.status == "run", (app.status, app.error)
        assert app.uplink is not None
        for k, v in tune.items():
            setattr(app.uplink.up, k, v)
        if wifi:
            from drivers.wifi import WiFi

            with sim.installed(g.rig.world):
                w = WiFi(WIFI["ssid"], WIFI["password"])
            app.wifi = w
            app.uplink.wifi = w
            app.tasks.append(self.site.loop.create_task(w.run()))
        app.tasks.append(self.site.loop.create_task(app.uplink.run()))
        # the firmware's tasks: SimGate.stop() (a reset) and the next boot end them, so a
        # re-provisioned gate runs one uplink on its flash, not the old one beside it
        self.tasks.extend(app.tasks)
        return app

    def start_full(self, g):
        """Boot and run the whole firmware app (gate loop, relay, door, indicator, uplink)."""
        app = g.boot()
        assert app.status == "run", (app.status, app.error)
        self.site.start(g)
        return app

    def run_for(self, ms: float) -> None:
        t0 = time.monotonic()
        end = self.clock.now_ms + ms
        while self.clock.now_ms < end:
            self.site.run_for(min(_SLICE_MS, end - self.clock.now_ms))
            self._check_real(t0, "run_for(%d)" % ms)

    def until(self, pred, timeout_ms: float, step_ms: float = 1000) -> bool:
        t0 = time.monotonic()
        end = self.clock.now_ms + timeout_ms
        while not pred():
            if self.clock.now_ms >= end:
                return False
            self.site.run_for(step_ms)
            self._check_real(t0, "until(%d ms)" % timeout_ms)
        return True

    def _check_real(self, t0: float, what: str) -> None:
        """A simulated wait that costs more than REAL_CAP_S of real time fails with the
        gates' state: virtual time is free only while no socket waits, so a gate that
        exchanges without pause (or a socket left open through its waits) turns hours of
        virtual time into hours of real time, and the run would hang silently."""
        if time.monotonic() - t0 > REAL_CAP_S:
            raise AssertionError("%s: more than %d s of real time (virtual now %.0f ms)\n%s"
                                 % (what, REAL_CAP_S, self.clock.now_ms, self.state()))

    def state(self) -> str:
        """One line per gate (uplink state, last outcome, backlog, clock) and the proxy's
        last requests: what a stalled simulation was doing."""
        lines = []
        for name, g in self.site.gates.items():
            app = g.app
            up = getattr(app, "uplink", None) if app is not None else None
            if up is None:
                lines.append("%s: no uplink" % name)
                continue
            lines.append("%s: %r status_at=%r sync_needed=%r stale_run=%r backoff=%d clock=%d trusted=%r"
                         % (name, up.summary(), up.up._status_at, up.up._sync_needed, up.up._stale_run,
                            up.up.backoff.n, app.clock.now(), app.clock.trusted()))
        for e in self.srv.proxy.entries()[-12:]:
            lines.append("  proxy: %s %s %s %s" % (e.get("device"), e.get("request"), e.get("action"),
                                                  e.get("status")))
        return "\n".join(lines)

    def close(self):
        for t in self.tasks:
            t.cancel()
        self.site.close()


def drained(*gates):
    def pred():
        for g in gates:
            log = g.app.log
            if log.pending() != 0:
                return False
        return True

    return pred


def passage(g, i: int, text: str | None = None, body_cc: int = 3660):
    """One decision at gate g through the firmware's own passage path (no scanner); the
    reading is measured from MLX90614 raw words (core_doubles.reading)."""
    from core_doubles import reading

    return g.gate.passage_now(text if text is not None else "GP1:not-a-pass-%d" % i,
                              reading(body_cc, g.gate.settings))

