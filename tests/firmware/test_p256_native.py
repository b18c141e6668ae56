"""app.p256n, the native (viper) field arithmetic of app.p256, against OpenSSL.

Under CPython the viper casts are memoryview word views, so the same limb code runs here
with both limb sizes: W = 30 (64-bit ports: the unix port) and W = 15 (32-bit: the
ESP32), the latter loaded from the source with W fixed. On the unix port itself (when
the `micropython` command is installed) the Wycheproof and edge-case tests of
tests/fw/fw_p256.py run on the native path, and one verify must allocate <= 64 KB.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import p256_probe
from app import p256
from gatepass.mp.unix import executable
from test_p256 import _openssl, _pub65, _reference_x, _sign, edge_scalars, scalars

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "firmware" / "app" / "p256n.py"
N = p256._N


def _variant(w: int):
    text = SRC.read_text().replace("W = 30 if sys.maxsize > 0x7FFFFFFF else 15", "W = %d" % w)
    assert "W = %d\n" % w in text
    spec = importlib.util.spec_from_loader("p256n_w%d" % w, loader=None)
    mod = importlib.util.module_from_spec(spec)
    exec(compile(text, str(SRC), "exec"), mod.__dict__)
    return mod


VARIANTS = {w: _variant(w) for w in (30, 15)}


@pytest.fixture(params=[30, 15], ids=["w30", "w15"])
def native(request, monkeypatch):
    """app.p256 switched to the native path with limb size W (tables rebuilt)."""
    nat = VARIANTS[request.param]
    monkeypatch.setattr(p256, "_nat", nat)
    monkeypatch.setattr(p256, "_WB", None)
    monkeypatch.setattr(p256, "_G_TABLE", None)
    yield nat


def test_limb_layout(native):
    assert native.NL * native.W >= 257  # a Montgomery product < 2p fits the limbs
    assert (2 * native.MASK + 3) * native.MASK < (1 << (2 * native.W + 2))
    if native.W == 15:  # 32-bit port: every intermediate stays below 2^31
        assert native.MASK * native.MASK + native.MASK + (1 << 16) < (1 << 31)
        assert native.TABLE_CODE == "H"


def test_field_ops(native):
    import random

    rnd = random.Random(5)
    b = native.work()
    P = p256._P
    R = native.R
    for _ in range(200):
        x = rnd.choice([0, 1, P - 1, P - 2, rnd.randrange(P)])
        y = rnd.choice([0, 1, P - 1, rnd.randrange(P)])
        for slot, v in ((native.T1, x), (native.T2, y)):
            native.setb(b, slot, (v * R % P).to_bytes(32, "big"))
        native.mul(b, native.T3, native.T1, native.T2)
        native.add(b, native.T4, native.T1, native.T2)
        native.sub(b, native.T5, native.T1, native.T2)
        assert native.get(b, native.T3) == x * y % P
        assert native.get(b, native.T4) == (x + y) % P
        assert native.get(b, native.T5) == (x - y) % P
        assert native.iszero(b, native.T5) == (x == y)
        assert native.eq(b, native.T1, native.T2) == (x == y)


@settings(max_examples=25, deadline=None)
@given(u1=st.one_of(scalars, edge_scalars), u2=st.one_of(scalars, edge_scalars),
       d=st.one_of(st.none(), scalars), rel=st.sampled_from(["free", "same", "negated"]))
def test_mul2_matches_openssl(u1, u2, d, rel):
    for w, nat in VARIANTS.items():
        saved = p256._nat, p256._WB, p256._G_TABLE
        p256._nat, p256._WB, p256._G_TABLE = nat, None, None
        try:
            u1 %= N
            u2 %= N
            if rel == "same":
                u2 = u1
            elif rel == "negated":
                u2 = (N - u1) % N
            pub = None if d is None else _pub65(d)
            assert p256_probe.mul2_x(u1, u2, pub) == _reference_x(u1, u2, d), w
        finally:
            p256._nat, p256._WB, p256._G_TABLE = saved


def test_verdicts_match_openssl(native):
    d = 0xC0FFEE
    pub = _pub65(d)
    key = p256.PublicKey(pub)
    assert isinstance(key._t, bytearray)
    for i in range(12):
        msg = b"bundle %d" % i
        sig = _sign(d, msg)
        if i % 3 == 1:
            sig = sig[:40] + bytes([sig[40] ^ 4]) + sig[41:]
        elif i % 3 == 2:
            msg += b"."
        assert key.verify(msg, sig) is _openssl(pub, msg, sig)
    # r + n < p: x(R) in [n, p) must still match r
    assert key.verify(b"", (1).to_bytes(32, "big") * 2) is False


# ---- the unix port -------------------------------------------------------------------


_UNIX = """
import sys, gc
sys.path.insert(0, %(fwenv)r)
sys.path.insert(0, %(fw_tests)r)
sys.path.insert(0, %(firmware)r)
from app import p256
assert p256._nat is not None, "no native path on the unix port"
import fw_p256
NO_VECTORS = ("test_exceptional_point_cases", "test_key_validation", "test_signature_shapes_never_raise",
              "test_table_fits_budget")
names = [n for n in dir(fw_p256) if n.startswith("test_") and (%(vectors)r or n in NO_VECTORS)]
for n in names:
    getattr(fw_p256, n)()
key = p256.PublicKey(%(pub)r)
msg = %(msg)r
sig = %(sig)r
assert key.verify(msg, sig)
gc.collect()
gc.disable()
m0 = gc.mem_alloc()
for i in range(5):
    key.verify(msg, sig)
alloc = (gc.mem_alloc() - m0) // 5
gc.enable()
print("@@" + '{"tests": %%d, "alloc": %%d, "table_bytes": %%d}' %% (len(names), alloc, key.table_bytes()))
"""


def test_unix_port_native_path(tmp_path):
    from gatepass.mp.runtime import SHARED

    (tmp_path / "fwenv.py").write_text("SHARED = %r\nRUNTIME = 'micropython'\n" % str(SHARED))
    d = 0xBEEF
    msg = b"x" * 120
    vectors = (SHARED / "vectors").is_dir()  # the Wycheproof file (../shared), as on the wasm port
    code = _UNIX % dict(vectors=vectors, fwenv=str(tmp_path), fw_tests=str(ROOT / "tests" / "firmware"), firmware=str(ROOT / "firmware"),
                        pub=_pub65(d), msg=msg, sig=_sign(d, msg))
    r = subprocess.run([executable(), "-X", "heapsize=8M", "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.split("@@")[-1])
    assert res["tests"] >= (12 if vectors else 4)
    assert res["alloc"] <= 65536, res  # issue 11: <= 64 KB allocated per ES256 verify
    assert 9216 <= res["table_bytes"] <= 9216 + 64, res
