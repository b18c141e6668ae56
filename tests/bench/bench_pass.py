"""Pass verification benchmark (decode + ES256) on the MicroPython WebAssembly runtime.

    .venv/bin/python tests/bench/bench_pass.py [--count 300] [--naive 12]

Issues `count` passes with the host tools (one issuer key), ships their text to a
MicroPython instance and times there, interleaved so both see the same load:
- passes.validate(text, {kid: PublicKey}, community, now): the device's whole check of a
  scanned pass (prefix, base45, CBOR/COSE, ES256 with fixed-key tables, claims, window);
- the naive reference: the same decode, then naive_p256.verify (double-and-add, no tables).
table_bytes is the heap held by one key's precomputed tables; alloc_bytes_per_verify the
bytes one validate() allocates with the collector disabled. Last stdout line: JSON.
"""
import gc
import json
import sys

BATCH = 10


# ---- MicroPython side -------------------------------------------------------------


def mp_main(path, naive_count):
    from app import p256, passes
    from bench_p256 import batch_ms, interleaved_ms, median
    import naive_p256

    with open(path) as f:
        head = f.readline().split()
        texts = [ln.strip() for ln in f if ln.strip()]
    pub = bytes(int(head[0][i:i + 2], 16) for i in range(0, 130, 2))
    kid = bytes(int(head[1][i:i + 2], 16) for i in range(0, len(head[1]), 2))
    community = head[2]
    now = int(head[3])
    p256._g_table()
    key = p256.PublicKey(pub)
    keys = {kid: key}

    def fast(t):
        return not isinstance(passes.validate(t, keys, community, now), int)

    def naive(t):
        s = passes.decode(t)
        return naive_p256.verify(pub, s.tbs(), s.signature)

    rejected = "a valid pass was rejected"
    batch_ms(fast, texts[:BATCH], rejected)  # warm-up
    fast_ms, (naive_ms,) = interleaved_ms(fast, (naive,), texts, naive_count, rejected, BATCH)
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    for t in texts[:20]:
        passes.validate(t, keys, community, now)
    alloc = (gc.mem_alloc() - m0) // 20
    gc.enable()
    res = {
        "passes": len(fast_ms) * BATCH,
        "verify_ms_median": median(fast_ms),
        "naive_passes": len(naive_ms),
        "naive_ms_median": median(naive_ms),
        "table_bytes": key.table_bytes(),
        "alloc_bytes_per_verify": alloc,
        "pass_chars_median": median([len(t) for t in texts]),
    }
    res["speedup"] = round(res["naive_ms_median"] / res["verify_ms_median"], 2)
    print("@@PASS@@" + json.dumps(res))


# ---- CPython side -----------------------------------------------------------------


def make_passes(count, seed=7):
    """(key, community, now, [pass text]) from the real host issuing code."""
    import random

    from gatepass.issuing import passes as issue, keys

    rnd = random.Random(seed)
    key = keys.from_scalar(rnd.randrange(1, 1 << 255))
    now = 1_790_000_000
    roles = ["resident"] * 6 + ["medical", "supply", "property"]
    texts = []
    for i in range(count):
        role = rnd.choice(roles)
        unit = "%d-%d-%d" % (rnd.randint(1, 30), rnd.randint(1, 4), rnd.randint(101, 3204))
        spec = issue.new_spec("sunrise", role, unit, nbf=now - 86400, exp=now + 30 * 86400, iat=now - 86400,
                              cti=rnd.randbytes(8), label="" if i % 3 else "Unit %d" % i)
        texts.append(issue.issue(key, spec).text)
    return key, "sunrise", now, texts


def run(count=300, naive_count=12, rt=None):
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    sys.path.insert(0, str(here))
    from bench_p256 import run_on_micropython

    key, community, now, texts = make_passes(count)
    head = "%s %s %s %d\n" % (key.pub65.hex(), key.kid.hex(), community, now)
    files = {
        "/bench/bench_pass.py": (here / "bench_pass.py").read_text(),
        "/bench/bench_p256.py": (here / "bench_p256.py").read_text(),  # shared timing helpers
        "/bench/naive_p256.py": (here / "naive_p256.py").read_text(),
        "/bench/passes.txt": head + "\n".join(texts) + "\n",
    }
    code = "import bench_pass\nbench_pass.mp_main('/bench/passes.txt', %d)\n" % naive_count
    return run_on_micropython(code, files, "@@PASS@@", rt)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--naive", type=int, default=12)
    args = ap.parse_args()
    print(json.dumps(run(args.count, args.naive), sort_keys=True))


if __name__ == "__main__":
    main()
