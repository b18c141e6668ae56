"""ES256 verification (app.p256) on both runtimes: every Wycheproof ECDSA P-256/SHA-256
(IEEE P1363 r||s) vector, public-key validation, and the exceptional cases of the point
arithmetic (infinity, P + P, P + (-P)) that random signatures never reach.

The Wycheproof file is split over several test functions (a key's comb table takes tens
of ms to build under MicroPython and the file has 112 keys); test_wycheproof_split checks
that the slices cover every group, so no vector can silently drop out.
"""
import hashlib
import json
from binascii import unhexlify

import fwenv
import p256_probe
from app import p256

VECTORS = fwenv.SHARED + "/vectors/wycheproof_ecdsa_secp256r1_sha256_p1363_test.json"
# group slices of the vector file, one test function each
SLICES = ((0, 1), (1, 23), (23, 45), (45, 67), (67, 89), (89, 112))

P = p256._P
N = p256._N
G65 = b"\x04" + p256._GX.to_bytes(32, "big") + p256._GY.to_bytes(32, "big")


def _load():
    with open(VECTORS) as f:
        return json.load(f)


def _check_slice(k):
    """Verify every test of group slice k; return (tests checked, valid ones)."""
    lo, hi = SLICES[k]
    groups = _load()["testGroups"][lo:hi]
    assert len(groups) == hi - lo, (k, len(groups))
    checked = valid = 0
    for g in groups:
        pub = unhexlify(g["publicKey"]["uncompressed"])
        key = p256.PublicKey(pub)
        for t in g["tests"]:
            # the file has only "valid" and "invalid"; an "acceptable" case (a legacy
            # encoding some libraries take) would fail here on purpose: decide, then list it
            assert t["result"] in ("valid", "invalid"), (t["tcId"], t["result"])
            want = t["result"] == "valid"
            got = key.verify(unhexlify(t["msg"]), unhexlify(t["sig"]))
            assert got is want, (t["tcId"], t["comment"], got)
            checked += 1
            valid += want
    assert checked == sum(len(g["tests"]) for g in groups) and checked > 0
    return checked, valid


def test_wycheproof_split():
    d = _load()
    assert d["algorithm"] == "ECDSA" and d["numberOfTests"] == 262
    groups = d["testGroups"]
    assert SLICES[0][0] == 0 and SLICES[-1][1] == len(groups)
    for i in range(1, len(SLICES)):
        assert SLICES[i][0] == SLICES[i - 1][1]
    assert sum(len(g["tests"]) for g in groups) == d["numberOfTests"]
    for g in groups:
        assert g["publicKey"]["curve"] == "secp256r1" and g["sha"] == "SHA-256"


def test_wycheproof_group0():
    checked, valid = _check_slice(0)
    assert checked == 114 and 0 < valid < checked


def test_wycheproof_groups_1_22():
    _check_slice(1)


def test_wycheproof_groups_23_44():
    _check_slice(2)


def test_wycheproof_groups_45_66():
    _check_slice(3)


def test_wycheproof_groups_67_88():
    _check_slice(4)


def test_wycheproof_groups_89_111():
    _check_slice(5)


def test_wycheproof_totals():
    # valid/invalid split of the whole file, counted from the file (173/89 today)
    d = _load()
    results = [t["result"] for g in d["testGroups"] for t in g["tests"]]
    assert results.count("valid") + results.count("invalid") == d["numberOfTests"]
    assert results.count("valid") > 100 and results.count("invalid") > 50


def test_module_verify_matches_key_verify():
    g = _load()["testGroups"][0]
    pub = unhexlify(g["publicKey"]["uncompressed"])
    n = 0
    for t in g["tests"][:6]:
        msg, sig = unhexlify(t["msg"]), unhexlify(t["sig"])
        assert p256.verify(pub, msg, sig) is (t["result"] == "valid"), t["tcId"]
        n += 1
    assert n == 6


def _rejects(pub):
    try:
        p256.PublicKey(pub)
    except ValueError:
        return p256.verify(pub, b"m", bytes(64)) is False
    return False


def _xy(x, y):
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _sign_d1(msg):
    """A real ES256 signature under G65 (private key d = 1) with nonce k = 1: R = G, so
    r = Gx mod n and s = k^-1 (e + r d) = e + r mod n. Computed without app.p256."""
    e = int.from_bytes(hashlib.sha256(msg).digest(), "big")
    r = p256._GX % N
    s = (e + r) % N
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_key_validation():
    key = p256.PublicKey(G65)
    msg = b"GP1 gate 3-1-1203"
    sig = _sign_d1(msg)
    assert key.verify(msg, sig) is True
    assert p256.verify(G65, msg, sig) is True
    assert key.verify(msg + b"!", sig) is False
    assert key.verify(b"m", bytes(64)) is False
    # off the curve
    assert _rejects(_xy(p256._GX, p256._GY + 1))
    assert _rejects(_xy(p256._GX + 1, p256._GY))
    # infinity: the all-zero "point" and SEC1's one-byte encoding
    assert _rejects(b"\x04" + bytes(64))
    assert _rejects(b"\x00")
    assert _rejects(bytes(65))
    # wrong prefix: compressed, hybrid, garbage
    for prefix in (0, 2, 3, 5, 6, 7, 0xFF):
        assert _rejects(bytes([prefix]) + G65[1:]), prefix
    # wrong lengths
    assert _rejects(b"")
    assert _rejects(G65[:64])
    assert _rejects(G65 + b"\x00")
    assert _rejects(G65[:33])


def test_key_coordinates_must_be_below_p():
    # (0, sqrt(b)) is on the curve, so (p, sqrt(b)) is the same point mod p: only the
    # range check stops it
    b = p256._B
    rb = pow(b, (P + 1) // 4, P)
    assert rb * rb % P == b
    key = p256.PublicKey(_xy(0, rb))  # accepted, and its table holds this very point:
    assert p256_probe.mul2_x(0, 1, _xy(0, rb)) == 0  # x(1 * Q)
    assert p256_probe.mul2_x(0, 2, _xy(0, rb)) == p256_probe.affine_double_x(0, rb)  # x(2 * Q)
    assert key.verify(b"m", bytes(64)) is False
    assert key.verify(b"GP1 gate 3-1-1203", _sign_d1(b"GP1 gate 3-1-1203")) is False  # G's signature
    assert _rejects(_xy(P, rb))
    # a Wycheproof key with y < 2^256 - p: (x, y + p) is that point mod p
    found = 0
    for g in _load()["testGroups"]:
        pub = unhexlify(g["publicKey"]["uncompressed"])
        x = int.from_bytes(pub[1:33], "big")
        y = int.from_bytes(pub[33:], "big")
        if y + P < 1 << 256:
            assert _rejects(_xy(x, y + P))
            found += 1
    assert found >= 1


def test_signature_shapes_never_raise():
    key = p256.PublicKey(G65)
    for sig in (b"", bytes(63), bytes(64), bytes(65), b"\xff" * 64, bytes(128)):
        assert key.verify(b"msg", sig) is False, sig
        assert p256.verify(G65, b"msg", sig) is False
    n = N.to_bytes(32, "big")
    one = (1).to_bytes(32, "big")
    for r, s in ((n, one), (one, n), (bytes(32), one), (one, bytes(32)), (b"\xff" * 32, one)):
        assert key.verify(b"", r + s) is False
    for pub in (b"", b"\x04", G65[:-1], b"\x04" + b"\xff" * 64):
        assert p256.verify(pub, b"", bytes(64)) is False


def test_exceptional_point_cases():
    gx, gy = p256._GX, p256._GY
    k = 0x1D1A3C5E7F2B4D6C8E0A1B3C5D7E9F01234567890ABCDEF0FEDCBA9876543210
    assert p256_probe.mul2_x(0, 0, None) is None  # O + O
    assert p256_probe.mul2_x(k, N - k, None) is None  # kG + (-kG)
    assert p256_probe.mul2_x(N - 1, 1, None) is None
    assert p256_probe.mul2_x(1, 0, None) == gx
    assert p256_probe.mul2_x(0, 1, None) == gx
    assert p256_probe.mul2_x(N - 1, 0, None) == gx  # -G
    two_g = p256_probe.affine_double_x(gx, gy)
    assert p256_probe.mul2_x(1, 1, None) == two_g  # G + G: the doubling branch
    assert p256_probe.mul2_x(2, 0, None) == two_g
    assert p256_probe.mul2_x(0, 2, G65) == two_g  # through a PublicKey table
    # kG + kG (every column adds a point to itself first) equals 2k G
    assert p256_probe.mul2_x(k, k, None) == p256_probe.mul2_x(2 * k % N, 0, None)
    assert p256_probe.mul2_x(k, k, None) != p256_probe.mul2_x(k, 0, None)


def test_table_fits_budget():
    key = p256.PublicKey(G65)
    t = key.table_bytes()
    if fwenv.RUNTIME == "micropython":
        # heap held by one key's table (the 16 KB per-key budget, in 32-bit words: the
        # unix port's 64-bit objects and mpz digits may take up to twice as much)
        import sys
        words = 2 if sys.maxsize > 2 ** 32 else 1
        assert 8192 < t <= 16384 * words, t
    else:
        assert t is None
    if p256._nat is None:
        assert len(key._t) == 256  # a tuple of 128 (x, y) ints
    else:  # one preallocated bytearray of limbs (native path)
        nat = p256._nat
        assert len(key._t) == 256 * nat.NL * (4 if nat.TABLE_CODE == "I" else 2) <= t <= len(key._t) + 64, t
