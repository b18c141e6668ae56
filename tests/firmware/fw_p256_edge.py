"""The project's own ES256 edge-case vectors (es256_edge.py, made with `cryptography` by
test_p256_edge.py) through app.p256 on both runtimes: no ../shared needed."""
import hashlib

import es256_edge
from app import p256

N = p256._N


def _key(pub, cache={}):
    k = cache.get(pub)
    if k is None:
        k = cache[pub] = p256.PublicKey(pub)
    return k


def test_edge_vectors():
    checked = 0
    for name, pub, msg, sig, valid in es256_edge.VECTORS:
        got = _key(pub).verify(msg, sig)
        assert got is valid, (name, got)
        assert p256.verify(pub, msg, sig) is valid, name
        checked += 1
    assert checked == len(es256_edge.VECTORS) and checked >= 20


def test_edge_vectors_truncated_and_padded_are_refused():
    for name, pub, msg, sig, valid in es256_edge.VECTORS:
        if valid:
            key = _key(pub)
            assert key.verify(msg, sig[:63]) is False, name
            assert key.verify(msg, sig + b"\x00") is False, name
            assert key.verify(msg, b"") is False, name


def _x(X, ZZ):
    p = p256._P
    return X * pow(ZZ, p - 2, p) % p


def _double(x, y):
    p = p256._P
    lam = (3 * x * x - 3) * pow(2 * y, p - 2, p) % p
    x2 = (lam * lam - 2 * x) % p
    return x2, (lam * (x - x2) - y) % p


def test_u1_zero_multiplication():
    # u1 = e/s = 0 needs SHA-256(msg) = 0 mod n, which no message reaches; the fixed-key
    # double multiplication u1 G + u2 Q must still be right with u1 = 0 (and with u2 = 0)
    if getattr(p256, "_nat", None) is not None or not hasattr(p256, "_mul2i"):
        return  # the native path has no integer-level entry point; covered by the vectors
    for name, pub, msg, sig, valid in es256_edge.VECTORS:
        if not valid:
            continue
        key = _key(pub)
        qx = int.from_bytes(pub[1:33], "big")
        qy = int.from_bytes(pub[33:65], "big")
        X, ZZ = p256._mul2i(0, 1, key._t)  # 0 G + 1 Q = Q
        assert ZZ and _x(X, ZZ) == qx, name
        X, ZZ = p256._mul2i(0, 2, key._t)  # 0 G + 2 Q
        assert ZZ and _x(X, ZZ) == _double(qx, qy)[0], name
        X, ZZ = p256._mul2i(0, N - 1, key._t)  # -Q has Q's x
        assert ZZ and _x(X, ZZ) == qx, name
        X, ZZ = p256._mul2i(1, 0, key._t)  # u2 = 0: G
        assert ZZ and _x(X, ZZ) == p256._GX, name
