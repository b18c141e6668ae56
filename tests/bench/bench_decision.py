"""The gate's decision path on the MicroPython WebAssembly runtime.

    .venv/bin/python tests/bench/bench_decision.py [--count 300]

Issues `count` distinct passes with the host tools, ships them to a MicroPython instance
and there builds the app as main.py does (one trusted key with its tables, settings,
clock, event log on the filesystem, revocation list of 2,000 ids and 200 quarantined
units, anti-passback table) around doubles for the relay and indicator, then times
Gate.passage_now(text, reading): decode + verify + policy (revocation and anti-passback
lookups on flash) + log append (write + flush) + anti-passback record, the thermometer
being a plain Reading. The bare passes.validate() runs interleaved on the same passes.

Figures: decision_ms_median (median over batches of the mean ms per decision),
validate_ms_median, decision_over_validate; steady_heap_bytes (gc.mem_alloc() growth over
the setup after a collection: keys and their tables, settings, clock, log, lists,
anti-passback, gate); steady_heap_code_bytes (the firmware modules the path imports,
compiled from source here; frozen into the firmware image they stay in flash);
heap_after_decisions_bytes (the app's objects again after all decisions: a leak shows
here); decision_alloc_bytes and validate_alloc_bytes (allocated by one decision / one
bare validate, collector off: garbage included, an upper bound of what either needs);
log_record_bytes (flash bytes one decision adds).
The wasm port only collects garbage between top-level calls, so the heap figures come
from a separate instance driven call by call (HEAP_STEPS). Last stdout line: JSON.
"""
import gc
import json
import sys

BATCH = 10


# ---- MicroPython side -------------------------------------------------------------


class _Relay:
    locked = True

    def unlock(self, ms):
        self.locked = False

    def lock(self):
        self.locked = True

    def safe(self):
        self.locked = True


class _Indicator:
    def show(self, kind, l1, l2, msg=None, extra=""):
        pass

    def text(self, l1, l2):
        pass

    def off(self):
        pass


def _unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def build(path, workdir):
    """The app as main.py builds it, around relay/indicator doubles. Returns
    (gate, keys, community, now)."""
    import os

    from app import clock, gate, lists, p256, roles
    from app.eventlog import EventLog
    from app.settings import Settings

    with open(path) as f:
        head = f.readline().split()
    pub = _unhex(head[0])
    kid = _unhex(head[1])
    community = head[2]
    now = int(head[3])
    os.mkdir(workdir)
    # lists as a bundle would leave them: ids and units nobody in the test holds
    lists.write_revoked(workdir, [bytes([0xF0 | (i & 7), i >> 8, i & 0xFF, 1, 2, 3, 4, 5]) for i in range(2000)])
    lists.write_quarantine(workdir, [(1000 + i, 1, 101) for i in range(200)])
    c = clock.Clock(workdir + "/clock", now_fn=lambda: now, offset=0)
    c.set(now, clock.SRC_SERVER)
    log = EventLog(workdir + "/log", c)
    keys = {kid: p256.PublicKey(pub)}
    g = gate.Gate(roles.IN, community, keys, Settings(), log, c, lists.Lists(workdir),
                  lists.Passback(workdir + "/passback.bin"), _Relay(), _Indicator(), None, None)
    return g, keys, community, now


def texts_of(path):
    with open(path) as f:
        f.readline()
        return [ln.strip() for ln in f if ln.strip()]


def decide_all(g, texts):
    from app import thermo

    reading = thermo.Reading(3660, 3530, 2200)
    n = 0
    for t in texts:
        n += 1 if g.passage_now(t, reading).decision.allow else 0
    return n


def mp_main(path, workdir):
    """Timing and allocation (one top-level call: the wasm port collects no garbage
    inside it, so heap figures come from heap_steps() instead)."""
    import os

    from app import passes, record, thermo
    from bench_p256 import batch_ms as _batch_ms, median

    g, keys, community, now = build(path, workdir)
    log = g.log
    texts = texts_of(path)
    reading = thermo.Reading(3660, 3530, 2200)

    def decide(t):
        ps = g.passage_now(t, reading)
        return 1 if ps.decision.allow else 0

    def bare(t):
        return 0 if isinstance(passes.validate(t, keys, community, now), int) else 1

    def batch_ms(fn, items):
        return _batch_ms(fn, items, "a valid pass was refused")

    seg = workdir + "/log/00000001.seg"
    size0 = os.stat(seg)[6]
    n0 = log.next_seq
    warm = texts[:BATCH]
    batch_ms(bare, warm)  # warm-up: the wasm JIT tiers up
    rest = texts[BATCH:]
    bare_ms = []
    dec_ms = []
    rounds = len(rest) // BATCH
    for i in range(rounds):
        items = rest[i * BATCH:(i + 1) * BATCH]
        bare_ms.append(batch_ms(bare, items))
        dec_ms.append(batch_ms(decide, items))
    rec_bytes = (os.stat(seg)[6] - size0) // (log.next_seq - n0)
    gc.disable()
    a0 = gc.mem_alloc()
    for t in warm:
        passes.validate(t, keys, community, now)
    valloc = (gc.mem_alloc() - a0) // len(warm)
    a0 = gc.mem_alloc()
    for t in warm:  # passes not seen yet: the full allowed path with its anti-passback write
        g.passage_now(t, reading)
    alloc = (gc.mem_alloc() - a0) // len(warm)
    gc.enable()
    res = {
        "decisions": rounds * BATCH,
        "decision_ms_median": median(dec_ms),
        "validate_ms_median": median(bare_ms),
        "decision_alloc_bytes": alloc,
        "validate_alloc_bytes": valloc,
        "log_record_bytes": rec_bytes,
        "record_size": record.SIZE,
    }
    res["decision_over_validate"] = round(res["decision_ms_median"] / res["validate_ms_median"], 2)
    print("@@DECISION@@" + json.dumps(res))


# top-level calls on one instance for the heap figures (gc works between them)
HEAP_STEPS = [
    "import gc, sys\nsys.path.insert(0, '/fw')\nsys.path.insert(0, '/bench')\nimport bench_decision as B",
    "gc.collect()\nH0 = gc.mem_alloc()",
    "from app import clock, gate, lists, p256, passes, policy, record, roles, settings, thermo, eventlog",
    "gc.collect()\nH1 = gc.mem_alloc()",
    "APP = B.build('/bench/decision.txt', '/benchgate')",
    "gc.collect()\nH2 = gc.mem_alloc()",
    "TEXTS = B.texts_of('/bench/decision.txt')",
    "N = B.decide_all(APP[0], TEXTS)",
    "gc.collect()\nH3 = gc.mem_alloc()\nTEXTS = None",
    "gc.collect()\nH4 = gc.mem_alloc()\n"
    "print('@@HEAP@@' + B.json.dumps({'code': H1 - H0, 'setup': H2 - H1, 'after': H4 - H0, 'allowed': N}))",
]


# ---- CPython side -----------------------------------------------------------------


_NODE = r"""
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
const req = JSON.parse(fs.readFileSync(0, "utf8"));
let out = "";
const mp = await loadMicroPython({ stdout: (s) => { out += s + "\n"; }, stderr: (s) => { out += s + "\n"; },
                                   heapsize: 8 * 1024 * 1024 });
const mkdirs = (p) => { let c = ""; for (const part of p.split("/").filter(Boolean)) {
  c += "/" + part; try { mp.FS.mkdir(c); } catch (e) {} } };
const walk = (host, dest) => { for (const e of fs.readdirSync(host, { withFileTypes: true })) {
  if (e.name === "__pycache__") continue;
  const h = path.join(host, e.name), d = dest + "/" + e.name;
  if (e.isDirectory()) { mkdirs(d); walk(h, d); } else if (e.name.endsWith(".py")) mp.FS.writeFile(d, fs.readFileSync(h)); } };
mkdirs("/fw"); walk(req.firmware, "/fw");
for (const [p, text] of Object.entries(req.files)) { mkdirs(path.posix.dirname(p)); mp.FS.writeFile(p, text); }
try { for (const code of req.steps) mp.runPython(code); } catch (e) { out += "@@ERROR@@" + (e.message || String(e)); }
process.stdout.write(out);
"""


def heap(files):
    """Steady heap figures from HEAP_STEPS, each a top-level call on one instance."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    req = {"firmware": str(root / "firmware"), "files": files, "steps": HEAP_STEPS}
    proc = subprocess.run(["node", "--input-type=module", "-e", _NODE], input=json.dumps(req), text=True,
                          capture_output=True, cwd=root / "tests" / "mpy", timeout=600)
    out = proc.stdout
    for line in reversed(out.splitlines()):
        if line.startswith("@@HEAP@@"):
            return json.loads(line[len("@@HEAP@@"):])
    raise RuntimeError("heap measurement failed:\n" + out + proc.stderr)


def run(count=300, rt=None):
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    sys.path.insert(0, str(here))
    from bench_p256 import run_on_micropython
    from bench_pass import make_passes

    key, community, now, texts = make_passes(count, seed=11)
    head = "%s %s %s %d\n" % (key.pub65.hex(), key.kid.hex(), community, now)
    files = {
        "/bench/bench_decision.py": (here / "bench_decision.py").read_text(),
        "/bench/bench_p256.py": (here / "bench_p256.py").read_text(),  # shared timing helpers
        "/bench/decision.txt": head + "\n".join(texts) + "\n",
    }
    code = "import bench_decision\nbench_decision.mp_main('/bench/decision.txt', '/benchgate')\n"
    res = run_on_micropython(code, files, "@@DECISION@@", rt)
    h = heap(files)
    # the app's objects (keys and tables, settings, log, lists, gate); module code is
    # listed apart: frozen into the firmware image it stays in flash
    res["steady_heap_bytes"] = h["setup"]
    res["steady_heap_code_bytes"] = h["code"]
    res["heap_after_decisions_bytes"] = h["after"] - h["code"]
    return res


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300)
    args = ap.parse_args()
    print(json.dumps(run(args.count), sort_keys=True))


if __name__ == "__main__":
    main()
