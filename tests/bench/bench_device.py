"""The device's heap on the MicroPython unix port: code, and data under the 96 KB cap.

    .venv/bin/python tests/bench/bench_device.py [--revoked 20000] [--units 500]

The scenario (the gate + bundle path of a device, built as main.py builds it, without
the network: the bundle arrives as main.py's uplink leaves it, a `bundle.dl` file):
imports of every app module a gate runs; then clock, event log and flash plan, the gate
with one trusted issuer key (its p256 table and the shared generator table), the
anti-passback table, the bundle store with its bundle key; `Store.apply_file()` of a
bundle revoking `revoked` passes and quarantining `units` units (verified streamed,
lists written to flash); passes checked at the gate (allowed, revoked, quarantined); a
reboot: a new Store verifies the stored bundle again.

Figures (last stdout line, JSON):
- code_heap_bytes: gc.mem_alloc() after the imports and a collection (64-bit objects on
  this host; frozen into the image on a board without PSRAM, this stays in flash);
- device_peak_data_heap_bytes: the smallest heap that runs the scenario, minus
  code_heap_bytes, scaled to 32-bit words (x 4 / word size: the `w` of `-X heapsize`);
  found by bisection over `-X heapsize` (4 KB steps); the raw figure is
  device_peak_data_heap_bytes_host;
- cap_ok: the scenario ran with heapsize = code baseline + 96wK (the budget);
- max_revoked_ids_applied: the largest revocation list applied under that cap (of the
  sizes tried: `revoked`, then 5x that).
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMUNITY = "maple"
NOW = 1_790_000_000

# ---- MicroPython side ----------------------------------------------------------------

# every app module a gate runs (all of firmware/app), imported as the code baseline
_APP = sorted(p.stem for p in (HERE.parents[1] / "firmware" / "app").glob("*.py") if p.stem != "__init__")
MP_IMPORTS = """
import gc, sys, os
sys.path.insert(0, '/mpyfw')  # the firmware as deploy puts it on a board: .mpy files
from app import %s
gc.collect()
print('@@BASE@@%%d' %% gc.mem_alloc())
""" % ", ".join(_APP)

MP_SCENARIO = """
def _unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))

def scenario():
    with open('/s/meta.json') as f:
        m = __import__('json').loads(f.read())
    d = '/d'
    clk = clock.Clock(d + '/clock', offset=0)
    clk.set(m['now'], 1)
    fp = flash.load_or_make(d)
    log = eventlog.EventLog(d + '/log', clk, seg_records=fp['seg_records'],
                            max_segments=fp['max_segments'], batch=64)
    ikey = {_unhex(m['ikid']): p256.PublicKey(_unhex(m['ipub']))}
    g = gate.Gate(roles.OUT, m['community'], ikey, settings.Settings(), log, clk, lists.Lists(d),
                  lists.Passback(d + '/passback.bin'))
    st = bundle.Store(d, {_unhex(m['bkid']): _unhex(m['bpub'])}, m['community'], log, fp['bundle'])
    st.on_apply.append(g.apply_bundle)
    st.load()
    os.rename('/s/bundle.dl', d + '/' + bundle.DOWNLOAD)  # as the uplink leaves a download
    code, v = st.apply_file()
    assert code == 0, (code, v)
    ok = policy.Reading(3660, 3500, 2200)
    got = []
    for t in m['passes']:
        got.append(g.passage_now(t, ok).decision.reason)
    applied = st.current.revoked_count()
    units = st.current.q_count
    # reboot: the app's objects go, a new Store verifies the stored bundle again
    st = g = ikey = None
    gc.collect()
    st2 = bundle.Store(d, {_unhex(m['bkid']): _unhex(m['bpub'])}, m['community'], log, fp['bundle'])
    b = st2.load()
    assert b is not None and b.version == v
    print('@@RESULT@@' + repr({'applied': applied, 'units': units, 'reasons': got}))

scenario()
"""


# ---- CPython side --------------------------------------------------------------------


def make_files(revoked=20000, units=500, seed=3):
    """{path: bytes} for the scenario: the bundle download and /s/meta.json, and the
    expected reasons of the passes checked."""
    import random

    sys.path.insert(0, str(HERE.parents[1] / "firmware"))
    from gatepass.mp import compat

    compat.install()
    from gatepass.issuing import bundles, keys
    from gatepass.issuing import passes as issue

    from app import reasons
    from app import settings as fwsettings

    rnd = random.Random(seed)
    ikey = keys.from_scalar(0x1551E5 + seed, kid=b"issuer-1")
    bkey = keys.from_scalar(0xB0D1E + seed, kid=b"bundle-1")
    alice = issue.issue(ikey, issue.new_spec(COMMUNITY, 0, (3, 1, 1203), "in,out", nbf=NOW - 86400,
                                             exp=NOW + 86400 * 30, cti=rnd.randbytes(16)))
    bob = issue.issue(ikey, issue.new_spec(COMMUNITY, 0, (4, 1, 101), "in,out", nbf=NOW - 86400,
                                           exp=NOW + 86400 * 30, cti=rnd.randbytes(16)))
    carol = issue.issue(ikey, issue.new_spec(COMMUNITY, 0, (7, 2, 505), "in,out", nbf=NOW - 86400,
                                             exp=NOW + 86400 * 30, cti=rnd.randbytes(16)))
    ids = [rnd.randbytes(8) for _ in range(revoked - 1)] + [bob.spec.cti]
    qs = {(7, 2, 0)}
    while len(qs) < units:
        qs.add((rnd.randint(8, 4000), rnd.randint(0, 6), 0))
    s = fwsettings.validate({})
    for k in ("mode", "threshold"):
        s.pop(k, None)
    c = bundles.Content(COMMUNITY, revoked=ids, quarantined=sorted(qs), settings=s,
                        keys=[(ikey.kid, ikey.pub65)])
    data = bundles.build(bkey, c, 2, NOW)
    meta = {"now": NOW, "community": COMMUNITY, "ikid": ikey.kid.hex(), "ipub": ikey.pub65.hex(),
            "bkid": bkey.kid.hex(), "bpub": bkey.pub65.hex(), "passes": [alice.text, bob.text, carol.text]}
    want = [reasons.OK, reasons.REVOKED, reasons.QUARANTINED]
    return {"/s/bundle.dl": data, "/s/meta.json": json.dumps(meta), "/d/.keep": b""}, want, len(data)


def mpy_files(arch="x64"):
    """{"/mpyfw/app/x.mpy": bytes}: every app module through mpy-cross (what `gatepass
    deploy` copies; compiling .py on the device would need the compiler's transient heap)."""
    from gatepass.technician import deploy

    out = {}
    for rel, path in deploy.firmware_sources():
        if rel.startswith("app/"):
            out["/mpyfw/" + rel[:-3] + ".mpy"] = deploy.compile_mpy(path, rel, arch)
    return out


def _rt():
    from gatepass.mp.unix import UnixMicroPython

    return UnixMicroPython(timeout=600)


def word_bytes(rt) -> int:
    out = rt.run("import sys\nprint(8 if sys.maxsize > 2 ** 32 else 4)\n")
    return int(out.strip().splitlines()[-1])


def code_baseline(rt, code) -> int:
    out = rt.run(MP_IMPORTS, code, heapsize="4M")
    return int(out.split("@@BASE@@")[1].split()[0])


def run_scenario(rt, files, heap: int):
    """The scenario's result dict, or None when it does not fit in `heap` bytes."""
    from gatepass.mp.runtime import MicroPythonError

    try:
        out = rt.run(MP_IMPORTS + MP_SCENARIO, files, heapsize=str(heap))
    except MicroPythonError as e:
        if "MemoryError" in str(e) or "memory allocation failed" in str(e):
            return None
        raise
    return eval(out.split("@@RESULT@@")[1].strip().splitlines()[0])


def run(revoked=20000, units=500, bisect=True):
    rt = _rt()
    wb = word_bytes(rt)
    code = mpy_files("x64" if wb == 8 else "")
    base = code_baseline(rt, code)
    cap = base + 96 * 1024 * wb // 4  # code baseline + 96wK
    files, want, size = make_files(revoked, units)
    files.update(code)
    res = run_scenario(rt, files, cap)
    out = {"code_heap_bytes": base, "word_bytes": wb, "heap_cap_bytes": cap, "cap_ok": res is not None,
           "bundle_bytes": size, "revoked": revoked, "units": units}
    if res is not None:
        assert res["reasons"] == want, (res["reasons"], want)
        assert res["applied"] == revoked and res["units"] == units, res
        out["max_revoked_ids_applied"] = revoked
        big, _w, bsize = make_files(revoked * 5, units)
        big.update(code)
        r5 = run_scenario(rt, big, cap)
        if r5 is not None and r5["applied"] == revoked * 5:
            out["max_revoked_ids_applied"] = revoked * 5
            out["bundle_bytes_max"] = bsize
    if bisect:
        lo, hi = base, cap if res is not None else base + 512 * 1024 * wb // 4
        if run_scenario(rt, files, hi) is None:
            out["device_peak_data_heap_bytes"] = None
            return out
        step = 4096
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if mid <= lo:
                break
            if run_scenario(rt, files, mid) is None:
                lo = mid
            else:
                hi = mid
        out["device_peak_data_heap_bytes_host"] = hi - base
        out["device_peak_data_heap_bytes"] = (hi - base) * 4 // wb
    return out


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revoked", type=int, default=20000)
    ap.add_argument("--units", type=int, default=500)
    a = ap.parse_args()
    print(json.dumps(run(a.revoked, a.units), sort_keys=True))


if __name__ == "__main__":
    main()
