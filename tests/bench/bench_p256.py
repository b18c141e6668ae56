"""ES256 verification benchmark on the MicroPython WebAssembly runtime.

    .venv/bin/python tests/bench/bench_p256.py [--count 300] [--naive 12]

Signs `count` random messages with `cryptography` (one P-256 key), ships them to a
MicroPython instance with this file and tests/bench/naive_p256.py, and times there:
- app.p256.PublicKey.verify (fixed-key comb tables): median over batches of BATCH verifies
  of the mean ms per verify;
- naive_p256.verify (plain double-and-add, no tables) and naive_p256.verify_shamir (one
  shared doubling chain), interleaved with the batches, median ms per verify;
- heap held by one key's tables (PublicKey.table_bytes()) and bytes allocated per verify
  (gc.mem_alloc() delta with the collector off).
The last stdout line is one JSON object.

The upper half of this file runs under MicroPython (it is copied to /bench), the lower
half is the CPython driver; `run()` is what `make bench` folds in.
"""
import gc
import json
import sys
import time

BATCH = 10  # verifies per timed batch (ticks_ms has 1 ms resolution here)


# ---- MicroPython side -------------------------------------------------------------


def load_cases(path):
    """Cases file -> (pub65, [(msg, sig64), ...]); layout from encode_cases()."""
    with open(path, 'rb') as f:
        data = f.read()
    pub = data[:65]
    items = []
    i = 65
    while i < len(data):
        ln = data[i] << 8 | data[i + 1]
        i += 2
        items.append((data[i:i + ln], data[i + ln:i + ln + 64]))
        i += ln + 64
    return pub, items


# timing helpers shared by the benchmarks (bench_pass and bench_decision ship this file too)

def median(xs):
    xs = sorted(xs)
    k = len(xs)
    return xs[k // 2] if k & 1 else (xs[k // 2 - 1] + xs[k // 2]) / 2


def batch_ms(fn, items, what='a valid signature did not verify'):
    """Per-call ms of fn(item) over all items, timed together; asserts every call returned
    true (`what` says what failed otherwise)."""
    t0 = time.ticks_ms()
    ok = 0
    for it in items:
        ok += fn(it)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    assert ok == len(items), what
    return dt / len(items)


def interleaved_ms(fast, refs, items, ref_count, what, batch=BATCH):
    """batch_ms of `fast` over consecutive `batch`-item batches of `items`, and of each of the
    slow references `refs` on one item every few batches (at most `ref_count` items), so that
    both see the same machine load and heap state: the WebAssembly port only collects
    garbage between top-level calls, so a run's heap only grows.
    Returns (fast ms list, [ms list per reference])."""
    fast_ms = []
    ref_ms = [[] for _ in refs]
    done = 0
    rounds = len(items) // batch
    every = max(1, rounds // max(1, ref_count))
    for i in range(rounds):
        fast_ms.append(batch_ms(fast, items[i * batch:(i + 1) * batch], what))
        if i % every == 0 and done < ref_count:
            one = items[done:done + 1]
            for fn, ms in zip(refs, ref_ms):
                ms.append(batch_ms(fn, one, what))
            done += 1
    return fast_ms, ref_ms


def alloc_per_verify(fn, items):
    """Bytes allocated per fn(msg, sig) call, collector off."""
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    for m, s in items:
        fn(m, s)
    m1 = gc.mem_alloc()
    gc.enable()
    return (m1 - m0) // len(items)


def mp_main(cases_path, naive_count):
    """Run the benchmark (under MicroPython); print one '@@P256@@' JSON line.

    The references run interleaved with the fast verifier (interleaved_ms).
    """
    from app import p256
    import naive_p256
    pub, items = load_cases(cases_path)
    t0 = time.ticks_ms()
    p256._g_table()
    g_ms = time.ticks_diff(time.ticks_ms(), t0)
    t0 = time.ticks_ms()
    key = p256.PublicKey(pub)
    key_ms = time.ticks_diff(time.ticks_ms(), t0)
    verify = key.verify
    naive = lambda m, s: naive_p256.verify(pub, m, s)  # noqa: E731
    shamir = lambda m, s: naive_p256.verify_shamir(pub, m, s)  # noqa: E731
    # the timing helpers call fn(item); items are (msg, sig) pairs
    pair = lambda fn: lambda ms: fn(ms[0], ms[1])  # noqa: E731
    batch_ms(pair(verify), items[:BATCH])  # warm-up: the wasm JIT tiers up
    fast_ms, (naive_ms, shamir_ms) = interleaved_ms(pair(verify), (pair(naive), pair(shamir)), items,
                                                    naive_count, 'a valid signature did not verify')
    res = {
        'verifies': len(fast_ms) * BATCH,
        'verify_ms_median': median(fast_ms),
        'verify_ms_min_batch': min(fast_ms),
        'naive_verifies': len(naive_ms),
        'naive_ms_median': median(naive_ms),
        'naive_shamir_ms_median': median(shamir_ms),
        'table_bytes': key.table_bytes(),
        'alloc_bytes_per_verify': alloc_per_verify(verify, items[:20]),
        'naive_alloc_bytes_per_verify': alloc_per_verify(naive, items[:2]),
        'g_table_build_ms': g_ms,
        'key_build_ms': key_ms,
    }
    res['speedup'] = round(res['naive_ms_median'] / res['verify_ms_median'], 2)
    res['speedup_vs_shamir'] = round(res['naive_shamir_ms_median'] / res['verify_ms_median'], 2)
    print('@@P256@@' + json.dumps(res))


# ---- CPython side -----------------------------------------------------------------


def make_cases(count, seed=1):
    """A P-256 key (fixed by seed) and `count` (msg, raw r||s signature) pairs."""
    import random

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    rnd = random.Random(seed)
    priv = ec.derive_private_key(rnd.randrange(1, 1 << 255), ec.SECP256R1())
    pub = priv.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    items = []
    for _ in range(count):
        # sizes of a COSE Sig_structure for a typical pass
        msg = bytes(rnd.randrange(256) for _ in range(rnd.randrange(60, 160)))
        r, s = utils.decode_dss_signature(priv.sign(msg, ec.ECDSA(hashes.SHA256())))
        items.append((msg, r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    return pub, items


def encode_cases(pub, items):
    out = bytearray(pub)
    for msg, sig in items:
        out += len(msg).to_bytes(2, "big") + msg + sig
    return bytes(out)


def run(count=300, naive_count=12, rt=None, firmware_override=None):
    """Benchmark on the MicroPython runtime; returns the result dict.

    `rt`: an open mpruntime.MicroPython (one is started if None). `firmware_override`:
    optional source text replacing app/p256.py (to compare variants).
    """
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))

    pub, items = make_cases(count)
    files = {
        "/bench/bench_p256.py": (here / "bench_p256.py").read_text(),
        "/bench/naive_p256.py": (here / "naive_p256.py").read_text(),
        "/bench/p256_cases.bin": encode_cases(pub, items),
    }
    if firmware_override is not None:
        files["/fw/app/p256.py"] = firmware_override
    code = "import bench_p256\nbench_p256.mp_main('/bench/p256_cases.bin', %d)\n" % naive_count
    return run_on_micropython(code, files, "@@P256@@", rt)


def run_on_micropython(code, files, marker, rt=None):
    """Run benchmark `code` (with /bench on sys.path) on `rt` or a new runtime; return the
    JSON printed after `marker`."""
    from gatepass.mp.runtime import MicroPython

    own = rt is None
    if own:
        rt = MicroPython()
    try:
        out = rt.run("import sys\nsys.path.insert(0, '/bench')\n" + code, files)
    finally:
        if own:
            rt.close()
    for line in reversed(out.splitlines()):
        if line.startswith(marker):
            return json.loads(line[len(marker):])
    raise RuntimeError("benchmark printed no result:\n" + out)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300, help="signatures verified by app.p256")
    ap.add_argument("--naive", type=int, default=12, help="signatures verified by the naive references")
    args = ap.parse_args()
    res = run(args.count, args.naive)
    print(json.dumps(res, sort_keys=True))


if __name__ == "__main__":
    main()
