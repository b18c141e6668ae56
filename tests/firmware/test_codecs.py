"""Property tests of the device decoders (base45, CBOR, COSE_Sign1) under CPython, and
hypothesis-drawn batches replayed under MicroPython that must agree with CPython.

Published vectors and every rejection rule are in tests/firmware/fw_codecs.py (both runtimes).
"""
from __future__ import annotations

import time
from binascii import unhexlify

import cbor2
import codechelp
import passvectors as V
import pytest
from app import base45, cbor, cose
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatepass.issuing import passes as iss

TIME_BOX = 0.5  # seconds for one decode of <= 1 KiB: generous, the real cost is ~1 ms


def outcome(func, *args):
    """('ok', value) or ('err', exception type name, message), as mpy.map reports."""
    try:
        return ("ok", func(*args))
    except Exception as e:  # noqa: BLE001 - the caller checks which types are allowed
        return ("err", type(e).__name__, str(e))


def timed(func, *args):
    t = time.perf_counter()
    r = outcome(func, *args)
    assert time.perf_counter() - t < TIME_BOX, (func.__name__, args)
    return r


# ------------------------------------------------------------------ strategies

u64 = st.integers(min_value=0, max_value=2**64 - 1)
cbor_ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
cbor_keys = st.one_of(cbor_ints, st.text(max_size=8), st.binary(max_size=8))
cbor_scalars = st.one_of(st.none(), st.booleans(), cbor_ints, st.binary(max_size=40), st.text(max_size=20))
cbor_values = st.recursive(
    cbor_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=5),
        st.dictionaries(cbor_keys, kids, max_size=5),
        st.builds(cbor.Tag, u64, kids),
    ),
    max_leaves=25,
)


def to_cbor2(v):
    """Our value model -> cbor2's, dict keys in our encoder's order (bytewise)."""
    if isinstance(v, cbor.Tag):
        return cbor2.CBORTag(v.tag, to_cbor2(v.value))
    if isinstance(v, list):
        return [to_cbor2(x) for x in v]
    if isinstance(v, dict):
        return {k: to_cbor2(v[k]) for k in sorted(v, key=cbor.dumps)}
    return v


@st.composite
def mutated(draw, base: st.SearchStrategy[bytes]):
    """Valid encodings with a few random edits: flips, inserts, deletes, truncation."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "truncate", "set")))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif op == "delete" and data:
            del data[pos]
        elif op == "truncate":
            del data[pos:]
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from((0x00, 0x18, 0x1B, 0x1F, 0x5F, 0x9F, 0xBF, 0xFF, 0xF9, 0xC0)))
    return bytes(data)


cbor_encodings = cbor_values.map(lambda v: cbor2.dumps(to_cbor2(v)))
cbor_inputs = st.one_of(st.binary(max_size=300), cbor_encodings, mutated(cbor_encodings))
VALID_COSE = [cbor2.dumps(cbor2.loads(base45.decode(t[4:]))) for _, t, _ in V.VALID]
cose_inputs = st.one_of(st.binary(max_size=200), mutated(st.sampled_from(VALID_COSE)))
B45_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
b45_texts = st.one_of(
    st.text(alphabet=B45_CHARS, max_size=60),
    st.text(alphabet=B45_CHARS + "a\n\x00\u00e9\u4e2d", max_size=30),
    st.text(max_size=30),
    st.binary(max_size=60),
)


# ------------------------------------------------------------------ base45


@given(st.binary(max_size=400))
def test_base45_roundtrip_and_host_encoder_agree(data):
    text = base45.encode(data)
    assert text == iss.base45_encode(data)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert base45.decode(text) == data
    assert base45.decode(text.encode()) == data


@given(b45_texts)
def test_base45_decode_only_raises_its_error_and_is_canonical(s):
    r = timed(base45.decode, s)
    if r[0] == "err":
        assert r[1] == "Base45Error", r
    else:
        # one encoding per byte string: what decodes re-encodes to the same text
        text = s if isinstance(s, str) else s.decode()
        assert base45.encode(r[1]) == text


@settings(max_examples=5, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(b45_texts.filter(lambda s: isinstance(s, bytes) or "\x00" not in s), min_size=40, max_size=80))
def test_base45_micropython_agrees(mpy, batch):
    got = mpy.map("app.base45", "decode", [(s,) for s in batch])
    assert got == [outcome(base45.decode, s) for s in batch]


# ------------------------------------------------------------------ CBOR


@given(cbor_values)
def test_cbor_decodes_what_cbor2_encodes(v):
    assert cbor.loads(cbor2.dumps(to_cbor2(v)), 32, 4096) == v


@given(cbor_values)
def test_cbor_encoder_matches_cbor2(v):
    assert cbor.dumps(v) == cbor2.dumps(to_cbor2(v))
    assert cbor.loads(cbor.dumps(v), 32, 4096) == v


@given(cbor_inputs)
def test_cbor_only_raises_cbor_error_and_accepts_only_well_formed(data):
    r = timed(cbor.loads, data)
    if r[0] == "err":
        assert r[1] == "CBORError", r
        return
    # whatever it accepted is well-formed CBOR that cbor2 reads the same way and that
    # our own (deterministic) encoder reproduces when the input was deterministic
    value = r[1]
    assert cbor.loads(cbor.dumps(value)) == value
    if "Tag(" not in repr(value):  # cbor2 gives some tags meaning (dates, bignums, sets)
        assert cbor2.loads(data) == value


@given(st.binary(max_size=40))
def test_cbor_text_strings_accept_exactly_valid_utf8(b):
    enc = cbor2.dumps(b)  # a bstr head ...
    enc = bytes([enc[0] | 0x20]) + enc[1:]  # ... turned into the tstr head of the same length
    try:
        expected = ("ok", b.decode("utf-8"))
    except UnicodeDecodeError:
        expected = ("err", "CBORError", "bad utf-8")
    assert outcome(cbor.loads, enc) == expected


def test_cbor_work_is_bounded_by_the_input():
    # adversarial heads: huge counts and lengths fail at once, without allocating
    for data in (b"\x9b" + b"\xff" * 8, b"\xbb" + b"\xff" * 8, b"\x5b" + b"\xff" * 8, b"\x81" * 100000,
                 b"\x9a\x00\x01\x00\x00" + b"\x00" * 65536, b"\xc1" * 100000):
        r = timed(cbor.loads, data)
        assert r[0] == "err" and r[1] == "CBORError", r


@settings(max_examples=5, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.one_of(cbor_inputs, st.binary(max_size=40).map(lambda b: bytes([0x60 | min(len(b), 23)]) + b)),
                min_size=40, max_size=80))
def test_cbor_micropython_agrees(mpy, batch):
    got = mpy.map("codechelp", "cbor_plain", [(b,) for b in batch])
    assert got == [outcome(codechelp.cbor_plain, b) for b in batch]


# ------------------------------------------------------------------ COSE_Sign1


@given(cose_inputs)
def test_cose_only_raises_cose_error(data):
    r = timed(cose.decode_sign1, data)
    if r[0] == "err":
        assert r[1] == "COSEError", r
        return
    s = r[1]
    assert s.alg == -7 and 1 <= len(s.kid) <= 16 and len(s.signature) == 64
    # what decodes is the standard envelope around exactly these parts
    assert cbor2.loads(data) == cbor2.CBORTag(18, [s.protected, {}, s.payload, s.signature])
    assert s.tbs() == iss.sig_structure(s.protected, s.payload)


@pytest.mark.parametrize("cose_bytes", VALID_COSE, ids=[n for n, _, _ in V.VALID])
def test_cose_every_truncation_rejected(cose_bytes):
    for n in range(len(cose_bytes)):
        assert outcome(cose.decode_sign1, cose_bytes[:n])[1] == "COSEError", n


@settings(max_examples=5, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(cose_inputs, min_size=40, max_size=80))
def test_cose_micropython_agrees(mpy, batch):
    got = mpy.map("codechelp", "cose_plain", [(b,) for b in batch])
    assert got == [outcome(codechelp.cose_plain, b) for b in batch]


def test_micropython_batch_really_compares(mpy):
    """The agreement tests above would catch a difference: a decoder patched on one
    side only gives a different outcome list."""
    batch = [(unhexlify("a201020304"),), (b"\x19\x00\xff",)]
    assert mpy.map("codechelp", "cbor_plain", batch) == [("ok", {1: 2, 3: 4}), ("err", "CBORError", "not shortest")]
    assert mpy.map("codechelp", "cbor_plain", batch) != [("ok", {1: 2, 3: 4}), ("ok", 255)]
