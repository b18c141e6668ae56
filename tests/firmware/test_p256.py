"""app.p256 against `cryptography` (OpenSSL): same verdict for random keys, messages and
signatures, valid and mutated, for r/s edge values, and for the scalar multiplication
u1*G + u2*Q itself; and the same verdicts again under the real MicroPython runtime."""
from __future__ import annotations

import functools

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import p256_probe
from app import p256

P = p256._P
N = p256._N
G65 = b"\x04" + p256._GX.to_bytes(32, "big") + p256._GY.to_bytes(32, "big")


@functools.lru_cache(maxsize=None)
def _priv(d: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(d, ec.SECP256R1())


def _pub65(d: int) -> bytes:
    return _priv(d).public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@functools.lru_cache(maxsize=None)
def _key(pub: bytes) -> p256.PublicKey:
    return p256.PublicKey(pub)


def _sign(d: int, msg: bytes) -> bytes:
    r, s = utils.decode_dss_signature(_priv(d).sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _openssl(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """The reference verdict; anything it cannot even parse is invalid."""
    if len(sig) != 64:
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    except ValueError:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _ours(pub: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        key = _key(pub)
    except ValueError:
        assert p256.verify(pub, msg, sig) is False
        return False
    return key.verify(msg, sig)


def _flip(b: bytes, bit: int) -> bytes:
    bit %= 8 * len(b)
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


scalars = st.integers(1, N - 1)
edge_scalars = st.sampled_from([0, 1, 2, 3, N - 1, N - 2, N // 2, (N + 1) // 2, 1 << 255, (1 << 256) - 1 - N])


@st.composite
def cases(draw):
    """(pub65, msg, sig64, what) from cryptography, mutated in one place or not at all."""
    d = draw(scalars)
    msg = draw(st.binary(max_size=200))
    sig = _sign(d, msg)
    pub = _pub65(d)
    what = draw(st.sampled_from(["valid", "valid", "r", "s", "msg", "key", "low-s", "other-key"]))
    bit = draw(st.integers(0, 511))
    if what == "r":
        sig = _flip(sig[:32], bit) + sig[32:]
    elif what == "s":
        sig = sig[:32] + _flip(sig[32:], bit)
    elif what == "msg":
        msg = _flip(msg, bit) if msg else b"\x00"
    elif what == "key":
        pub = pub[:1] + _flip(pub[1:], bit)
    elif what == "low-s":  # (r, n - s) is just as valid in ECDSA
        s = int.from_bytes(sig[32:], "big")
        sig = sig[:32] + (N - s).to_bytes(32, "big")
    elif what == "other-key":
        pub = _pub65(d % (N - 1) + 1 if d != N - 1 else 1)
    return pub, msg, sig, what


@settings(max_examples=150)
@given(cases())
def test_same_verdict_as_openssl(case):
    pub, msg, sig, what = case
    want = _openssl(pub, msg, sig)
    if what in ("valid", "low-s"):
        assert want
    assert _ours(pub, msg, sig) is want


R_S_EDGES = [0, 1, 2, N - 2, N - 1, N, N + 1, P - 1, P, (1 << 256) - 1]


@pytest.mark.parametrize("r", R_S_EDGES)
@pytest.mark.parametrize("which", ["r", "s"])
def test_r_s_edge_values(r, which):
    d = 0x3F1E5A
    msg = b"edge"
    sig = _sign(d, msg)
    v = r.to_bytes(32, "big")
    sig = v + sig[32:] if which == "r" else sig[:32] + v
    pub = _pub65(d)
    want = _openssl(pub, msg, sig)
    assert _ours(pub, msg, sig) is want
    if not 0 < r < N:
        assert want is False


def test_r_s_range_is_checked_before_arithmetic():
    # r = n + r' (< 2^256) must not be reduced into a valid r'
    d = 77
    msg = b"range"
    sig = _sign(d, msg)
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    key = _key(_pub65(d))
    assert key.verify(msg, sig)
    if r + N < 1 << 256:
        assert not key.verify(msg, (r + N).to_bytes(32, "big") + sig[32:])
    if s + N < 1 << 256:
        assert not key.verify(msg, sig[:32] + (s + N).to_bytes(32, "big"))


@settings(max_examples=200)
@given(pub=st.binary(max_size=70), msg=st.binary(max_size=64), sig=st.binary(max_size=70), prefix=st.sampled_from([None, 0, 2, 3, 4, 6]))
def test_never_raises(pub, msg, sig, prefix):
    if prefix is not None and pub:
        pub = bytes([prefix]) + pub[1:]
    assert p256.verify(pub, msg, sig) is False or _openssl(pub, msg, sig)
    try:
        key = p256.PublicKey(pub)
    except ValueError:
        return
    assert key.verify(msg, sig) in (True, False)


def _reference_x(u1: int, u2: int, d: int | None):
    """x of u1*G + u2*Q with Q = d*G (Q = G when d is None), by OpenSSL: (u1 + u2 d) G."""
    k = (u1 + u2 * (1 if d is None else d)) % N
    if k == 0:
        return None
    return _priv(k).public_key().public_numbers().x


@settings(max_examples=100)
@given(u1=st.one_of(scalars, edge_scalars), u2=st.one_of(scalars, edge_scalars), d=st.one_of(st.none(), scalars), rel=st.sampled_from(["free", "same", "negated"]))
def test_mul2_matches_openssl(u1, u2, d, rel):
    u1 %= N
    u2 %= N
    if rel == "same":
        u2 = u1
    elif rel == "negated":
        u2 = (N - u1) % N
    pub = None if d is None else _pub65(d)
    assert p256_probe.mul2_x(u1, u2, pub) == _reference_x(u1, u2, d)


def test_generator_table_is_shared_and_built_once():
    before = p256._g_table()
    p256.PublicKey(_pub65(5))
    assert p256._g_table() is before
    assert len(before) == 256


# ---- the same verdicts under the real MicroPython runtime -------------------------


@settings(max_examples=3, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(cases(), min_size=10, max_size=10))
def test_micropython_same_verdicts(mpy, batch):
    args = [(pub, msg, sig) for pub, msg, sig, _ in batch]
    got = mpy.map("app.p256", "verify", args)
    for (pub, msg, sig, what), res in zip(batch, got):
        want = _openssl(pub, msg, sig)
        assert res == ("ok", want), (what, res)
        assert _ours(pub, msg, sig) is want


@settings(max_examples=3, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.one_of(scalars, edge_scalars), st.one_of(scalars, edge_scalars), st.one_of(st.none(), scalars)),
        min_size=8,
        max_size=8,
    )
)
def test_micropython_mul2_matches_openssl(mpy, triples):
    triples = [(u1 % N, u2 % N, d) for u1, u2, d in triples]
    triples.append((triples[0][0], (N - triples[0][0]) % N, None))  # lands on infinity
    args = [(u1, u2, None if d is None else _pub65(d)) for u1, u2, d in triples]
    got = mpy.map("p256_probe", "mul2_x", args)
    assert got == [("ok", _reference_x(u1, u2, d)) for u1, u2, d in triples]


def test_micropython_one_key_many_signatures(mpy):
    d = 0x5EED
    pub = _pub65(d)
    pairs = []
    for i in range(20):
        msg = b"pass %d" % i
        sig = _sign(d, msg)
        if i % 3 == 1:
            sig = _flip(sig, 7 * i)
        elif i % 3 == 2:
            msg = msg + b"!"
        pairs.append((msg, sig))
    want = [_openssl(pub, m, s) for m, s in pairs]
    assert want.count(True) == 7
    assert mpy.call("p256_probe", "verify_many", pub, pairs) == want
