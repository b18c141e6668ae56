"""The WHOLE device's data heap on the MicroPython unix port (issue 11), with a big bundle.

    .venv/bin/python tests/bench/bench_whole_device.py [--revoked 20000] [--units 500]

The scenario is the whole-device test's (tests/e2e/test_whole_device.py, driven by
gatepass.mp.wholedevice): firmware/main.py setup() + serve() on the simulated board that
runs ON MicroPython (app/ and drivers/ as .mpy, as deploy puts them on a board), the
real community server over HTTPS (test CA). Staff have revoked
`revoked` passes and quarantined `units` units (building 5 among them); the device (an
exit gate) boots, syncs its clock, downloads and applies the bundle the server publishes
(streamed to flash, verified piecewise), and checks three passes at the gate: alice (OK),
carol (REVOKED, in the list), dave (QUARANTINED, building 5). Then it reboots on the same
flash (the stored bundle is verified again) and checks carol once more.

Heap: a first boot with a large heap lists the modules the scenario loads; a second one
imports them all with main.py and gives `heap_code` (firmware and the simulated board's
modules, after a collection; not frozen, 64-bit objects here); the capped boots import
the same list up front, so what setup() and serve() load later counts as code. The
scenario then runs under `-X heapsize` = heap_code + 96wK (96 K 32-bit words: 192 KB on
this 64-bit port). Figures (last stdout line, JSON):
- whole_cap_ok: the scenario passed under that cap (bundle applied, three reasons right,
  reboot re-verified);
- whole_code_heap_bytes_host: heap_code as measured (64-bit);
- device_peak_data_heap_bytes_whole: the smallest heap the scenario passes in (bisection
  over -X heapsize, `step` bytes), minus heap_code, scaled to 32-bit words (x 4 / word
  size); _host: as measured. Without bisection: the largest gc.mem_alloc() the board saw
  while polling, minus heap_code (a lower bound; key _sampled).
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE.parents[1] / "firmware", HERE.parent / "support"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

DEVICES = [["wdh-1", "Back gate", "out"]]
WIFI = {"ssid": "gate-net", "password": "pw"}
AMB = 14862  # MLX90614 ambient word: 22.09 C
NORMAL = 15343  # object word: 36.6 C after compensation


class _Tmp:
    """tmp_path_factory's mktemp for the e2e helpers outside pytest."""

    def __init__(self, root: Path):
        self.root = root

    def mktemp(self, name: str) -> Path:
        p = Path(tempfile.mkdtemp(prefix=name + "-", dir=self.root))
        return p


def staff_lists(srv, revoked: int, units: int, now: int):
    """`revoked` revoked passes (carol's among them) and `units` quarantined units
    (building 5 whole among them) in the live database; the bundle version bumped."""
    srv.shell(
        "import datetime as dt, random; from django.utils import timezone; "
        "from gatepass.server.models import Pass, Quarantine, Community; "
        "from gatepass.server import bundlesvc; "
        "c = Community.objects.get(pk='maple'); rnd = random.Random(7); "
        "t0 = timezone.now() - dt.timedelta(days=1); t1 = timezone.now() + dt.timedelta(days=30); "
        "ctis = ['%%016x' %% rnd.getrandbits(64) for _ in range(%d)] + [b'carol-01'.hex()]; "
        "Pass.objects.bulk_create([Pass(community=c, cti=x, pid=x[:16], nbf=t0, exp=t1, revoked=True) "
        "for x in ctis], batch_size=2000); "
        "qs = {(5, 0, 0)}; "
        "exec('while len(qs) < %d: qs.add((rnd.randint(100, 4000), rnd.randint(1, 6), rnd.randint(1, 999)))'); "
        "Quarantine.objects.bulk_create([Quarantine(community=c, building=b, entrance=e, room=r, start=t0, end=t1) "
        "for b, e, r in sorted(qs)], batch_size=2000); "
        "bundlesvc.bump('maple')" % (revoked - 1, units))


def version(srv) -> int:
    return srv.sql("SELECT bundle_version FROM gatepass_community WHERE id = 'maple'")[0][0]


def compile_firmware(dest: Path, arch: str = "x64") -> Path:
    """app/ and drivers/ through mpy-cross into dest (what `gatepass deploy` copies)."""
    from gatepass.technician import deploy

    for rel, path in deploy.firmware_sources():
        if rel.startswith(("app/", "drivers/")) and rel.endswith(".py"):
            out = dest / (rel[:-3] + ".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(deploy.compile_mpy(path, rel, arch))
    return dest


class Scenario:
    """The server with the lists, a TLS front, the passes, a provisioned config."""

    def __init__(self, revoked: int, units: int, root: Path):
        from e2e_helpers import start_server
        from testpki import TestPKI, TLSFront

        from gatepass import repo_root
        from gatepass.issuing import passes as issue
        from gatepass.technician import provisioning as prov

        self.root = root
        tmp = _Tmp(root)
        self.srv = start_server(tmp, "whole-heap", DEVICES)
        try:
            self.pki = TestPKI(tmp.mktemp("pki"))
            now = int(time.time())
            key = self.srv.issuer()

            def mk(unit, cti):
                return issue.issue(key, issue.new_spec("maple", 0, unit, "in,out", nbf=now - 86400,
                                                       exp=now + 30 * 86400, cti=cti)).text

            self.alice, self.carol, self.dave = (mk((3, 1, 1203), b"alice-01"), mk((7, 1, 301), b"carol-01"),
                                                 mk((5, 2, 501), b"dave-001"))
            staff_lists(self.srv, revoked, units, now)
            self.bundle_v = version(self.srv)
            self.front = TLSFront(self.pki, self.srv.server.port)
            self.profile = json.loads((repo_root() / "boards" / "esp32-devkitc.json").read_text())
            cfg = prov.build_config(dict(self.srv.seeded["devices"]["wdh-1"]), board="esp32-devkitc",
                                    wifi_ssid=WIFI["ssid"], wifi_password=WIFI["password"],
                                    server_url="https://localhost:%d" % self.front.port,
                                    ca_pem=self.pki.ca_pem.encode(), direction="out",
                                    settings={"unlock_s": 1})
            prov.validate(cfg)
            self.config = cfg
            self.mpy = compile_firmware(root / "mpy", "x64" if sys.maxsize > 2 ** 32 else "")
        except BaseException:
            self.srv.close()
            raise
        self.n = 0
        self.preload: list[str] = []

    def close(self):
        self.front.close()
        self.srv.close()

    def spec(self, **kw):
        d = {"profile": self.profile, "ssid": WIFI["ssid"], "password": WIFI["password"], "amb_raw": AMB}
        d.update(kw)
        return d

    def visit(self, name, text):
        return {"name": name, "text": text, "obj_raw": NORMAL, "amb_raw": AMB}

    def code_heap(self) -> int:
        """heap_code: a first boot with a large heap runs the scenario and reports every
        module it loaded; a second boot imports them all with main.py (setup() and serve()
        load drivers, p256, the uplink... later) and takes heap_code after a collection."""
        from gatepass.mp.wholedevice import WholeDevice

        self.n += 1
        dev = WholeDevice(self.root / ("base-%d" % self.n), self.profile, self.config, heapsize="4M",
                          mpy=self.mpy)
        r = dev.run(self.scenario_spec())
        self.preload = [m for m in r["modules"] if m not in ("__main__", "device")]
        self.n += 1
        r = WholeDevice(self.root / ("base-%d" % self.n), self.profile, self.config,
                        heapsize="4M", mpy=self.mpy).run(self.spec(preload=self.preload))
        return r["heap_code"]

    def scenario_spec(self):
        return self.spec(wait=[["trusted", 60], ["bundle", 120]], bundle_version=self.bundle_v,
                         crowd=[self.visit("ok", self.alice), self.visit("revoked", self.carol),
                                self.visit("quarantine", self.dave)])

    def run(self, heap: int) -> dict:
        """Both boots under `heap` bytes: {"ok": bool, "why": str, "peak": sampled peak}."""
        from gatepass.mp.wholedevice import WholeDevice, WholeDeviceError

        self.n += 1
        try:
            return self._run(WholeDevice, heap)
        except WholeDeviceError as e:  # out of memory outside setup()/serve(): the board's own
            return {"ok": False, "peak": 0, "why": "no report: %s" % str(e)[-300:]}

    def _run(self, WholeDevice, heap: int) -> dict:
        dev = WholeDevice(self.root / ("dev-%d" % self.n), self.profile, self.config, heapsize=str(heap),
                          timeout=600, mpy=self.mpy)
        spec = self.scenario_spec()
        spec["preload"] = self.preload
        r1 = dev.run(spec)
        got = [(v["name"], v["reason"]) for v in r1.get("crowd", [])]
        res = {"ok": False, "peak": r1.get("heap_peak", 0), "heap_code": r1.get("heap_code"), "got": got,
               "status": r1.get("status"), "error": r1.get("setup_error") or r1.get("error") or r1.get("oom")}
        if r1.get("status") != "run" or not r1.get("wait_bundle"):
            res["why"] = "boot 1: %s / bundle %s (%s)" % (r1.get("status"), r1.get("wait_bundle"), res["error"])
            res["tail"] = r1["stdout"][-1500:] + r1["stderr"][-1500:]
            return res
        if got != [("ok", "OK"), ("revoked", "REVOKED"), ("quarantine", "QUARANTINED")]:
            res["why"] = "boot 1 reasons %r" % (got,)
            return res
        r2 = dev.run(self.spec(wait=[["trusted", 60]], crowd=[self.visit("revoked", self.carol)],
                               preload=self.preload))
        res["peak"] = max(res["peak"], r2.get("heap_peak", 0))
        got2 = [(v["name"], v["reason"]) for v in r2.get("crowd", [])]
        if r2.get("status") != "run" or r2.get("store_version") != self.bundle_v or got2 != [("revoked", "REVOKED")]:
            res["why"] = "boot 2: %s, store %s, %r (%s)" % (r2.get("status"), r2.get("store_version"), got2,
                                                          r2.get("setup_error") or r2.get("error") or r2.get("oom"))
            return res
        res["ok"] = True
        return res


def run(revoked=20000, units=500, bisect=True, step=8192, log=print):
    wb = 8 if sys.maxsize > 2 ** 32 else 4  # the unix port from PyPI matches the host
    with tempfile.TemporaryDirectory() as d:
        sc = Scenario(revoked, units, Path(d))
        try:
            base = sc.code_heap()
            cap = base + 96 * 1024 * wb // 4
            t0 = time.time()
            res = sc.run(cap)
            log("whole device under cap %d (code %d): %r (%.0f s)" % (cap, base, res, time.time() - t0))
            out = {"whole_code_heap_bytes_host": base, "whole_heap_cap_bytes": cap, "whole_cap_ok": res["ok"],
                   "whole_revoked": revoked, "whole_units": units, "whole_word_bytes": wb,
                   "device_peak_data_heap_bytes_whole_sampled": (res["peak"] - base) * 4 // wb}
            if not res["ok"]:
                out["whole_cap_failure"] = res.get("why")
            if bisect:
                lo, hi = base, cap
                if not res["ok"]:
                    hi = base + 1024 * 1024 * wb // 4
                    if not sc.run(hi)["ok"]:
                        out["device_peak_data_heap_bytes_whole"] = None
                        return out
                while hi - lo > step:
                    mid = (lo + hi) // 2 // step * step
                    if mid <= lo:
                        break
                    r = sc.run(mid)
                    log("  heap %d: %s" % (mid, "ok" if r["ok"] else r.get("why")))
                    if r["ok"]:
                        hi = mid
                    else:
                        lo = mid
                out["device_peak_data_heap_bytes_whole_host"] = hi - base
                out["device_peak_data_heap_bytes_whole"] = (hi - base) * 4 // wb
            return out
        finally:
            sc.close()


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revoked", type=int, default=20000)
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--no-bisect", action="store_true")
    a = ap.parse_args()
    print(json.dumps(run(a.revoked, a.units, not a.no_bisect), sort_keys=True))


if __name__ == "__main__":
    main()
