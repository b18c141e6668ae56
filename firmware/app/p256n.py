"""P-256 field arithmetic in native code (viper), for app.p256 on runtimes that have it.

Why: a verify done with Python ints allocates a new int for every product, sum and
remainder (~230-310 KB of short-lived heap per verify), so a small heap collects
several times per scan. Here field elements are limbs in preallocated arrays and every
operation writes into a slot of one work buffer: a verify allocates only a few KB (the
hash, the scalar recoding, one `pow`). Used when the port has a native emitter (ESP32
xtensawin, the unix port); the WebAssembly port cannot compile viper (SyntaxError on
import) and keeps the Python-int path of app.p256.

Representation: W-bit limbs, little-endian, NL limbs per element (W = 30 where a
machine word is 64 bits, 15 where it is 32: a limb product plus carries stays below
2^(2W+2) < 2^62 or 2^31), in Montgomery form x*R mod p with R = 2^(W*NL), always fully
reduced to [0, p). p = -1 mod 2^W, so the Montgomery factor -p^-1 mod 2^W is 1.

Work buffer (a bytearray read as 32-bit words): [0] NL, [1] W, [2] mask, [3] unused, p at 4, the product
scratch (NL + 2 words) after it, then the slots (NL words each, offsets below).
Tables: one bytearray per base point (32-bit words for W = 30, 16-bit for W = 15: 9,216
bytes either way),
entry k of the comb at words 2*k*NL (x) and (2*k + 1)*NL (y), Montgomery form.
"""
import struct
import sys

import micropython

if sys.implementation.name != "micropython":  # CPython (tests): the viper casts as views
    def ptr8(b):
        return b

    def ptr16(b):
        return memoryview(b).cast("H")

    def ptr32(b):
        return memoryview(b).cast("I")

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
W = 30 if sys.maxsize > 0x7FFFFFFF else 15
NL = (256 + W - 1) // W
MASK = (1 << W) - 1
R = 1 << (W * NL)
TABLE_CODE = "I" if W > 16 else "H"

_PO = 4
_T = _PO + NL
_S0 = _T + NL + 2
# slots
ZERO = _S0
R2 = _S0 + NL  # R^2 mod p (plain limbs): mul(x, R2) puts x in Montgomery form
ONE = _S0 + 2 * NL  # R mod p: Montgomery 1
X = _S0 + 3 * NL
Y = _S0 + 4 * NL
ZZ = _S0 + 5 * NL
ZZZ = _S0 + 6 * NL
X2 = _S0 + 7 * NL  # table point (x2, y2): ld copies both, so Y2 must follow X2
Y2 = _S0 + 8 * NL
T1 = _S0 + 9 * NL
T2 = _S0 + 10 * NL
T3 = _S0 + 11 * NL
T4 = _S0 + 12 * NL
T5 = _S0 + 13 * NL
T6 = _S0 + 14 * NL
T7 = _S0 + 15 * NL
UNIT = _S0 + 16 * NL  # plain 1: mul(x, UNIT) takes x out of Montgomery form
_WORDS = _S0 + 17 * NL


@micropython.viper
def mul(buf, r: int, a: int, b: int):
    """slot r = a * b / R mod p (CIOS Montgomery product, fully reduced); r may be a or b."""
    m = ptr32(buf)
    n = int(m[0])
    w = int(m[1])
    mask = int(m[2])
    t = 4 + n
    k = 0
    while k < n + 2:
        m[t + k] = 0
        k += 1
    i = 0
    while i < n:
        bi = int(m[b + i])
        c = 0
        j = 0
        while j < n:
            s = int(m[t + j]) + int(m[a + j]) * bi + c
            m[t + j] = s & mask
            c = s >> w
            j += 1
        s = int(m[t + n]) + c
        m[t + n] = s & mask
        m[t + n + 1] = s >> w
        q = int(m[t])
        c = (q + q * int(m[4])) >> w
        j = 1
        while j < n:
            s = int(m[t + j]) + q * int(m[4 + j]) + c
            m[t + j - 1] = s & mask
            c = s >> w
            j += 1
        s = int(m[t + n]) + c
        m[t + n - 1] = s & mask
        m[t + n] = int(m[t + n + 1]) + (s >> w)
        i += 1
    # t < 2p: r = t - p unless that borrows
    br = 0
    j = 0
    while j < n:
        d = int(m[t + j]) - int(m[4 + j]) - br
        if d < 0:
            d += mask + 1
            br = 1
        else:
            br = 0
        m[r + j] = d
        j += 1
    if br > int(m[t + n]):
        j = 0
        while j < n:
            m[r + j] = m[t + j]
            j += 1


@micropython.viper
def add(buf, r: int, a: int, b: int):
    """slot r = a + b mod p."""
    m = ptr32(buf)
    n = int(m[0])
    w = int(m[1])
    mask = int(m[2])
    t = 4 + n
    c = 0
    j = 0
    while j < n:
        s = int(m[a + j]) + int(m[b + j]) + c
        m[t + j] = s & mask
        c = s >> w
        j += 1
    br = 0
    j = 0
    while j < n:
        d = int(m[t + j]) - int(m[4 + j]) - br
        if d < 0:
            d += mask + 1
            br = 1
        else:
            br = 0
        m[r + j] = d
        j += 1
    if br:
        j = 0
        while j < n:
            m[r + j] = m[t + j]
            j += 1


@micropython.viper
def sub(buf, r: int, a: int, b: int):
    """slot r = a - b mod p."""
    m = ptr32(buf)
    n = int(m[0])
    w = int(m[1])
    mask = int(m[2])
    br = 0
    j = 0
    while j < n:
        d = int(m[a + j]) - int(m[b + j]) - br
        if d < 0:
            d += mask + 1
            br = 1
        else:
            br = 0
        m[r + j] = d
        j += 1
    if br:
        c = 0
        j = 0
        while j < n:
            s = int(m[r + j]) + int(m[4 + j]) + c
            m[r + j] = s & mask
            c = s >> w
            j += 1


@micropython.viper
def iszero(buf, a: int) -> int:
    m = ptr32(buf)
    n = int(m[0])
    j = 0
    while j < n:
        if m[a + j]:
            return 0
        j += 1
    return 1


@micropython.viper
def eq(buf, a: int, b: int) -> int:
    m = ptr32(buf)
    n = int(m[0])
    j = 0
    while j < n:
        if m[a + j] != m[b + j]:
            return 0
        j += 1
    return 1


@micropython.viper
def setb(buf, r: int, src):
    """slot r = the 32 big-endian bytes src (plain limbs, not reduced)."""
    m = ptr32(buf)
    s = ptr8(src)
    n = int(m[0])
    w = int(m[1])
    mask = int(m[2])
    acc = 0
    nb = 0
    k = 0
    i = 31
    while i >= 0:
        acc |= int(s[i]) << nb
        nb += 8
        if nb >= w:
            m[r + k] = acc & mask
            acc >>= w
            nb -= w
            k += 1
        i -= 1
    while k < n:
        m[r + k] = acc
        acc = 0
        k += 1


@micropython.viper
def getb(buf, a: int, dst):
    """dst (32 bytes) = slot a as big-endian bytes (plain limbs, < 2^256)."""
    m = ptr32(buf)
    d = ptr8(dst)
    n = int(m[0])
    w = int(m[1])
    acc = 0
    nb = 0
    k = 0
    i = 31
    while i >= 0:
        if nb < 8 and k < n:
            acc |= int(m[a + k]) << nb
            nb += w
            k += 1
        d[i] = acc & 0xFF
        acc >>= 8
        nb -= 8
        i -= 1


@micropython.viper
def ld32(buf, r: int, tbl, off: int):
    """slots r, r + NL = the table point at word off (x, y) of an 'I' table."""
    m = ptr32(buf)
    t = ptr32(tbl)
    k = int(m[0]) * 2
    j = 0
    while j < k:
        m[r + j] = t[off + j]
        j += 1


@micropython.viper
def ld16(buf, r: int, tbl, off: int):
    """ld32 for an 'H' table."""
    m = ptr32(buf)
    t = ptr16(tbl)
    k = int(m[0]) * 2
    j = 0
    while j < k:
        m[r + j] = t[off + j]
        j += 1


@micropython.viper
def st32(buf, a: int, tbl, off: int):
    """Table words off.. = slot a (one coordinate) of an 'I' table."""
    m = ptr32(buf)
    t = ptr32(tbl)
    n = int(m[0])
    j = 0
    while j < n:
        t[off + j] = m[a + j]
        j += 1


@micropython.viper
def st16(buf, a: int, tbl, off: int):
    m = ptr32(buf)
    t = ptr16(tbl)
    n = int(m[0])
    j = 0
    while j < n:
        t[off + j] = m[a + j]
        j += 1


ld = ld32 if TABLE_CODE == "I" else ld16
st = st32 if TABLE_CODE == "I" else st16


def _put(buf, r, x):
    """slot r = the int x (0 <= x < 2^256), plain limbs (setup and tests only)."""
    setb(buf, r, x.to_bytes(32, "big"))


def get(buf, a):
    """The int in slot a, Montgomery factor removed (tests and table checks only)."""
    x = 0
    for i in range(NL - 1, -1, -1):
        x = (x << W) | struct.unpack_from("<I", buf, 4 * (a + i))[0]
    return x * pow(R, _P - 2, _P) % _P


def work():
    """A new work buffer with its constants (allocate it once, before the tables)."""
    b = bytearray(4 * _WORDS)
    struct.pack_into("<III", b, 0, NL, W, MASK)
    _put(b, _PO, _P)
    _put(b, R2, R * R % _P)
    _put(b, ONE, R % _P)
    _put(b, UNIT, 1)
    return b


def new_table():
    """A zeroed table array (256 coordinates): one block, allocated before it is filled."""
    return bytearray((4 if TABLE_CODE == "I" else 2) * NL * 256)


def fill(t, coords, wb, first=0):
    """Table t from coordinate `first` on = the flat affine coordinates (x0, y0, x1, ...),
    ints < p, in Montgomery form (converted through work buffer wb)."""
    off = first * NL
    for v in coords:
        setb(wb, T1, v.to_bytes(32, "big"))
        mul(wb, T1, T1, R2)
        st(wb, T1, t, off)
        off += NL


def read(t, i, wb):
    """Coordinate i of table t as an int (the table build reads earlier entries)."""
    ld(wb, T2, t, i * NL)  # x (and the next coordinate) into T2, T3
    mul(wb, T2, T2, UNIT)  # out of Montgomery form
    out = bytearray(32)
    getb(wb, T2, out)
    return int.from_bytes(out, "big")


def dbl(b):
    """(X, Y, ZZ, ZZZ) <- 2 (X, Y, ZZ, ZZZ), XYZZ dbl-2008-s-1 with a = -3."""
    add(b, T1, Y, Y)  # U
    mul(b, T2, T1, T1)  # V
    mul(b, T3, T1, T2)  # W
    mul(b, T4, X, T2)  # S
    sub(b, T5, X, ZZ)
    add(b, T6, X, ZZ)
    mul(b, T5, T5, T6)
    add(b, T6, T5, T5)
    add(b, T5, T6, T5)  # M = 3 (X - ZZ)(X + ZZ)
    mul(b, T6, T5, T5)
    sub(b, T6, T6, T4)
    sub(b, X, T6, T4)  # X3 = M^2 - 2 S
    sub(b, T6, T4, X)
    mul(b, T6, T5, T6)
    mul(b, T7, T3, Y)
    sub(b, Y, T6, T7)  # Y3 = M (S - X3) - W Y
    mul(b, ZZ, T2, ZZ)
    mul(b, ZZZ, T3, ZZZ)


def madd(b):
    """(X, Y, ZZ, ZZZ) += affine (X2, Y2) (madd-2008-s), the accumulator not at infinity.

    Returns False when the sum is the point at infinity (accumulator == -(X2, Y2))."""
    mul(b, T1, X2, ZZ)
    sub(b, T1, T1, X)  # P
    mul(b, T2, Y2, ZZZ)
    sub(b, T2, T2, Y)  # R
    if iszero(b, T1):
        if not iszero(b, T2):
            return False  # Q + (-Q)
        # Q + Q: double the affine point
        ld_slot(b, X, X2)
        ld_slot(b, Y, Y2)
        ld_slot(b, ZZ, ONE)
        ld_slot(b, ZZZ, ONE)
        dbl(b)
        return True
    mul(b, T3, T1, T1)  # PP
    mul(b, T4, T1, T3)  # PPP
    mul(b, T5, X, T3)  # Q
    mul(b, T6, T2, T2)
    sub(b, T6, T6, T4)
    sub(b, T6, T6, T5)
    sub(b, X, T6, T5)  # X3 = R^2 - PPP - 2 Q
    sub(b, T6, T5, X)
    mul(b, T6, T2, T6)
    mul(b, T7, Y, T4)
    sub(b, Y, T6, T7)  # Y3 = R (Q - X3) - Y PPP
    mul(b, ZZ, ZZ, T3)
    mul(b, ZZZ, ZZZ, T4)
    return True


def ld_slot(b, r, a):
    """slot r = slot a."""
    sub(b, r, a, ZERO)
