"""ECDSA P-256 / SHA-256 (ES256) verification for a fixed set of trusted public keys.

PublicKey(pub65) checks an uncompressed SEC1 point (0x04 || X || Y) and precomputes its
comb table once (~13 KB of heap); PublicKey.verify(msg, sig64) then costs about 2.5 ms
on the MicroPython WebAssembly runtime (see docs/crypto.md). Signatures are raw r || s
(32 + 32 bytes, COSE style). Verification handles public data only: no constant-time
requirement, but every exceptional case of the point formulas is handled exactly.

Method: u1*G + u2*Q on one chain of 31 doublings, with a signed zero-free comb of 8 teeth
(spacing 32 bits) per base, so each of the 32 columns adds one affine table point for G
and one for Q. Points accumulate in XYZZ coordinates (x = X/ZZ, y = Y/ZZZ) and x(R) is
compared as X == r*ZZ (mod p), so the only inversion is s^-1 mod n (extended Euclid).
"""
import hashlib
import sys

try:  # native field arithmetic where the port compiles viper (ESP32, unix); not on CPython
    if sys.implementation.name != "micropython":
        raise ImportError
    from app import p256n as _nat
except (ImportError, SyntaxError):  # SyntaxError: a port without a native emitter (wasm)
    _nat = None

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
_ONES = (1 << 256) - 1

# Comb geometry: bit 32*j + i of a (recoded) scalar is tooth j of column i.
# Three delta swaps exchange index bits (0,5), (1,6), (2,7) of every bit position of
# the 512-bit value (scalar2 << 256 | scalar1): afterwards each byte is one column,
# tooth j at bit j, column i of the low scalar in byte ((i & 7) << 2) | (i >> 3).
_SWAPS = (
    (31, int.from_bytes((b"\x00" * 4 + b"\xaa" * 4) * 8, "big")),
    (62, int.from_bytes((b"\x00" * 8 + b"\xcc" * 8) * 4, "big")),
    (124, int.from_bytes((b"\x00" * 16 + b"\xf0" * 16) * 2, "big")),
)
_ORDER = bytes([((i & 7) << 2) | (i >> 3) for i in range(31, -1, -1)])  # columns 31..0


def _inv(a, m):
    """a^-1 mod m for prime m and 0 < a < m (extended Euclid: ~4x faster than pow)."""
    r0 = m
    r1 = a
    x0 = 0
    x1 = 1
    while r1:
        q, r = divmod(r0, r1)
        r0 = r1
        r1 = r
        x0, x1 = x1, x0 - q * x1
    return x0 % m


def _dbl(X, Y, ZZ, ZZZ):
    """2*(X, Y, ZZ, ZZZ) in XYZZ coordinates (dbl-2008-s-1 with a = -3)."""
    p = _P
    U = Y << 1
    V = U * U % p
    W = U * V % p
    S = X * V % p
    M = 3 * (X - ZZ) * (X + ZZ) % p
    X3 = (M * M - (S << 1)) % p
    return X3, (M * (S - X3) - W * Y) % p, V * ZZ % p, W * ZZZ % p


def _madd(X, Y, ZZ, ZZZ, x2, y2):
    """(X, Y, ZZ, ZZZ) + affine (x2, y2) (madd-2008-s), every case: ZZ == 0 is infinity."""
    p = _P
    if not ZZ:
        return x2, y2, 1, 1
    P = (x2 * ZZ - X) % p
    R = (y2 * ZZZ - Y) % p
    if not P:
        if R:
            return 1, 1, 0, 0  # Q + (-Q)
        return _dbl(x2, y2, 1, 1)  # Q + Q
    PP = P * P % p
    PPP = P * PP % p
    Q = X * PP % p
    X3 = (R * R - PPP - (Q << 1)) % p
    return X3, (R * (Q - X3) - Y * PPP) % p, ZZ * PP % p, ZZZ * PPP % p


def _affine(pts):
    """XYZZ points, none at infinity -> flat tuple (x0, y0, x1, y1, ...); one inversion."""
    p = _P
    n = len(pts)
    acc = [1] * n
    a = 1
    for i in range(n):
        acc[i] = a
        a = a * pts[i][3] % p
    a = _inv(a, p)
    out = [0] * (2 * n)
    for i in range(n - 1, -1, -1):
        X, Y, ZZ, ZZZ = pts[i]
        izzz = a * acc[i] % p  # 1/ZZZ
        a = a * ZZZ % p
        iz = ZZ * izzz % p  # 1/Z, as ZZ^3 == ZZZ^2
        # x - 0 is a fresh exact-size int: 48 bytes on MicroPython instead of the
        # remainder's 96 (it keeps the dividend's digit buffer)
        out[2 * i] = X * iz * iz % p - 0
        out[2 * i + 1] = Y * izzz % p - 0
    return tuple(out)


def _comb(x, y):
    """Signed comb table of the point P = (x, y): flat tuple of 128 affine points."""
    out = [0] * 256
    _comb_build(x, y, out, None)
    return tuple(out)


def _comb_build(x, y, out, t):
    """Build the comb table of P = (x, y) into the list `out` (256 ints), or, with out
    None, into the native table array t.

    Point k is P + sum_{j=1..7} s_j 2^(32 j) P with s_j = +1 if bit j-1 of k is set,
    else -1. Scalar multiples are distinct and non-zero, so no entry is infinity.
    Built 16 points at a time (one inversion each) to keep the transient heap ~20 KB.
    """
    p = _P
    pt = (x, y, 1, 1)
    base = [pt]
    for j in range(7):
        for i in range(32):
            pt = _dbl(*pt)
        base.append(pt)
    aff = _affine(base)  # 2^(32 j) P
    two = _affine([_dbl(aff[2 * j], aff[2 * j + 1], 1, 1) for j in range(1, 8)])
    # native path: each batch goes straight into the table array t (and is read back
    # from there when a later entry needs it), so no list of 256 ints is ever held
    nat = _nat
    for c in range(0, 128, 16):
        pts = []
        for k in range(c, c + 16):
            if k == 0:  # all signs -1
                pt = (x, y, 1, 1)
                for j in range(1, 8):
                    pt = _madd(pt[0], pt[1], pt[2], pt[3], aff[2 * j], p - aff[2 * j + 1])
            else:  # entry k - 2^b with sign b+1 flipped: add 2 * 2^(32 (b+1)) P
                b = 6
                while not k >> b:
                    b -= 1
                i = k - (1 << b)
                if i >= c:
                    q = pts[i - c]
                elif out is not None:
                    q = (out[2 * i], out[2 * i + 1], 1, 1)
                else:
                    assert nat is not None
                    q = (nat.read(t, 2 * i, _WB), nat.read(t, 2 * i + 1, _WB), 1, 1)
                pt = _madd(q[0], q[1], q[2], q[3], two[2 * b], two[2 * b + 1])
            pts.append(pt)
        a = _affine(pts)
        pts = None
        if out is None:
            assert nat is not None
            nat.fill(t, a, _WB, 2 * c)
        else:
            for i in range(32):
                out[2 * c + i] = a[i]
        a = None


_G_TABLE = None
_WB = None  # native path: the work buffer (allocated once, before the first table)


def _table(x, y):
    """The comb table of (x, y) in the form _mul2 reads: a flat tuple of ints, or on the
    native path one preallocated array (allocated before the transient build)."""
    if _nat is None:
        return _comb(x, y)
    global _WB
    if _WB is None:
        _WB = _nat.work()
    t = _nat.new_table()  # before the transient build: the table's block comes first
    _comb_build(x, y, None, t)
    return t


def _g_table():
    """The generator's comb table, built on first use and shared by all keys."""
    global _G_TABLE
    t = _G_TABLE
    if t is None:
        t = _G_TABLE = _table(_GX, _GY)
    return t


def _recode(u1, u2):
    """Comb columns of both scalars (64 bytes) and their negation flags.

    An odd u < 2^256 is sum (2 b_i - 1) 2^i over the bits b_i of (u + 2^256 - 1) / 2:
    every column is non-zero and, up to sign, has tooth 0 set. Even u (and 0) become
    n - u with the sign flipped.
    """
    n = _N
    f1 = 0
    f2 = 0
    if not u1 & 1:
        u1 = n - u1
        f1 = 1
    if not u2 & 1:
        u2 = n - u2
        f2 = 1
    v = ((u1 + _ONES) >> 1) | (((u2 + _ONES) >> 1) << 256)
    for d, m in _SWAPS:
        t = ((v >> d) ^ v) & m
        v ^= t ^ (t << d)
    return v.to_bytes(64, "little"), f1, f2


def _mul2(u1, u2, tq):
    """u1*G + u2*Q for Q's comb table tq; returns (X, ZZ), ZZ == 0 for infinity (ints,
    x = X / ZZ mod p, on either path)."""
    if _nat is None:
        return _mul2i(u1, u2, tq)
    if not _mul2n(u1, u2, tq):
        return 1, 0
    b = _WB
    return _nat.get(b, _nat.X), _nat.get(b, _nat.ZZ)


def _mul2n(u1, u2, tq):
    """Native path: u1*G + u2*Q into the work buffer's X, Y, ZZ, ZZZ slots (Montgomery
    form); False when the result is the point at infinity. Allocates only the recoding."""
    n = _nat
    assert n is not None
    b = _WB
    nl = n.NL
    ld = n.ld
    sub = n.sub
    dbl = n.dbl
    madd = n.madd
    X2 = n.X2
    Y2 = n.Y2
    ZERO = n.ZERO
    cb, f1, f2 = _recode(u1, u2)
    tg = _G_TABLE
    inf = True
    for o in _ORDER:
        if not inf:
            dbl(b)
        # column of u1 (G's table), then of u2 (Q's): entry (c >> 1) if tooth 0 is set,
        # else -(~c >> 1); x at word (flat index) * NL
        c = cb[o]
        if c & 1:
            ld(b, X2, tg, (c - 1) * nl)
            if f1:
                sub(b, Y2, ZERO, Y2)
        else:
            ld(b, X2, tg, (254 - c) * nl)
            if not f1:
                sub(b, Y2, ZERO, Y2)
        if inf:
            _start(b)
            inf = False
        else:
            inf = not madd(b)
        c = cb[o + 32]
        if c & 1:
            ld(b, X2, tq, (c - 1) * nl)
            if f2:
                sub(b, Y2, ZERO, Y2)
        else:
            ld(b, X2, tq, (254 - c) * nl)
            if not f2:
                sub(b, Y2, ZERO, Y2)
        if inf:
            _start(b)
            inf = False
        else:
            inf = not madd(b)
    return not inf and not n.iszero(b, n.ZZ)


def _start(b):
    """Accumulator = the affine table point (X2, Y2)."""
    n = _nat
    assert n is not None
    n.ld_slot(b, n.X, n.X2)
    n.ld_slot(b, n.Y, n.Y2)
    n.ld_slot(b, n.ZZ, n.ONE)
    n.ld_slot(b, n.ZZZ, n.ONE)


def _mul2i(u1, u2, tq):
    """Python-int path of _mul2."""
    p = _P
    cb, f1, f2 = _recode(u1, u2)
    tg = _g_table()
    X = 1
    Y = 1
    ZZ = 0  # start at infinity
    ZZZ = 0
    # _dbl and two _madd calls, inlined: this loop is the whole cost of a verify
    for o in _ORDER:
        if ZZ:
            U = Y << 1
            V = U * U % p
            W = U * V % p
            S = X * V % p
            M = 3 * (X - ZZ) * (X + ZZ) % p
            X = (M * M - (S << 1)) % p
            Y = (M * (S - X) - W * Y) % p
            ZZ = V * ZZ % p
            ZZZ = W * ZZZ % p
        # column of u1: byte c, entry (c >> 1) if tooth 0 is set, else -(~c >> 1)
        c = cb[o]
        if c & 1:
            x2 = tg[c - 1]
            y2 = tg[c]
            if f1:
                y2 = p - y2
        else:
            x2 = tg[254 - c]
            y2 = tg[255 - c]
            if not f1:
                y2 = p - y2
        if ZZ:
            P = (x2 * ZZ - X) % p
            R = (y2 * ZZZ - Y) % p
            if P:
                PP = P * P % p
                PPP = P * PP % p
                Q = X * PP % p
                X = (R * R - PPP - (Q << 1)) % p
                Y = (R * (Q - X) - Y * PPP) % p
                ZZ = ZZ * PP % p
                ZZZ = ZZZ * PPP % p
            else:
                X, Y, ZZ, ZZZ = _madd(X, Y, ZZ, ZZZ, x2, y2)
        else:
            X = x2
            Y = y2
            ZZ = 1
            ZZZ = 1
        # column of u2, same with Q's table
        c = cb[o + 32]
        if c & 1:
            x2 = tq[c - 1]
            y2 = tq[c]
            if f2:
                y2 = p - y2
        else:
            x2 = tq[254 - c]
            y2 = tq[255 - c]
            if not f2:
                y2 = p - y2
        if ZZ:
            P = (x2 * ZZ - X) % p
            R = (y2 * ZZZ - Y) % p
            if P:
                PP = P * P % p
                PPP = P * PP % p
                Q = X * PP % p
                X = (R * R - PPP - (Q << 1)) % p
                Y = (R * (Q - X) - Y * PPP) % p
                ZZ = ZZ * PP % p
                ZZZ = ZZZ * PPP % p
            else:
                X, Y, ZZ, ZZZ = _madd(X, Y, ZZ, ZZZ, x2, y2)
        else:
            X = x2
            Y = y2
            ZZ = 1
            ZZZ = 1
    return X, ZZ


class PublicKey:
    """A trusted P-256 public key with its precomputed comb table.

    Raises ValueError unless pub65 is 0x04 || X || Y (65 bytes) with X, Y < p on the
    curve (the point at infinity has no such encoding). Construction takes tens of ms
    (and as much once for the shared generator table): build keys once, keep them.
    """

    def __init__(self, pub65):
        if len(pub65) != 65 or pub65[0] != 4:
            raise ValueError("not an uncompressed P-256 point")
        p = _P
        x = int.from_bytes(pub65[1:33], "big")
        y = int.from_bytes(pub65[33:65], "big")
        if x >= p or y >= p or (y * y - (x * x - 3) * x - _B) % p:
            raise ValueError("point not on P-256")
        _g_table()
        self._t = _table(x, y)
        self.pub = bytes(pub65)

    def verify(self, msg, sig64):
        """True iff sig64 = r || s (2 x 32 bytes, big-endian) is an ES256 signature of msg.

        Never raises for bytes arguments: a wrong length or r, s outside 1..n-1 is False.
        """
        if len(sig64) != 64:
            return False
        return self.verify_digest(hashlib.sha256(msg).digest(), sig64)

    def verify_digest(self, digest, sig64):
        """verify() for a message already hashed: digest = its 32-byte SHA-256 (a streamed
        bundle is hashed piece by piece and never held whole)."""
        if len(sig64) != 64 or len(digest) != 32:
            return False
        n = _N
        p = _P
        r = int.from_bytes(sig64[:32], "big")
        s = int.from_bytes(sig64[32:], "big")
        if not (0 < r < n and 0 < s < n):
            return False
        e = int.from_bytes(digest, "big")
        if _nat is not None:
            return self._verify_native(e, r, s)
        w = _inv(s, n)
        X, ZZ = _mul2i(e * w % n, r * w % n, self._t)
        if not ZZ:
            return False
        # x(R) = X / ZZ in [0, p) and p < 2n: x(R) mod n == r iff x(R) is r or r + n
        if (r * ZZ - X) % p == 0:
            return True
        r += n
        return r < p and (r * ZZ - X) % p == 0

    def _verify_native(self, e, r, s):
        n = _N
        nat = _nat
        assert nat is not None
        b = _WB
        w = pow(s, n - 2, n)  # in place inside mpz: ~200 bytes, where Euclid churns ~36 KB
        if not _mul2n(e * w % n, r * w % n, self._t):
            return False
        # x(R) = X / ZZ: compare X with r ZZ (Montgomery form on both sides), then r + n
        T1 = nat.T1
        for v in (r, r + n):
            if v >= _P:
                return False
            nat.setb(b, T1, v.to_bytes(32, "big"))
            nat.mul(b, T1, T1, nat.R2)
            nat.mul(b, T1, T1, nat.ZZ)
            if nat.eq(b, T1, nat.X):
                return True
        return False

    def table_bytes(self):
        """Heap bytes held by this key's table under MicroPython (None elsewhere).

        Measured, not estimated: allocates a same-shaped copy (fresh ints, the tuple)
        with the collector off and reads gc.mem_alloc() before and after.
        """
        import gc

        mem_alloc = getattr(gc, "mem_alloc", None)
        if mem_alloc is None:
            return None
        vals = [] if _nat is not None else list(self._t)
        was = gc.isenabled()
        gc.disable()
        m0 = mem_alloc()
        if _nat is not None:
            copy = _nat.new_table()
        else:
            for i in range(len(vals)):
                vals[i] = vals[i] - 0
            copy = tuple(vals)
        m1 = mem_alloc()
        if was:
            gc.enable()
        return (m1 - m0) if copy else 0


def verify(pub65, msg, sig64):
    """One-off check (builds the key's table each call): False for a bad key too."""
    try:
        key = PublicKey(pub65)
    except (ValueError, TypeError):
        return False
    return key.verify(msg, sig64)
