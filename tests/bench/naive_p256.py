"""Naive ES256 verifier: the benchmark's reference point, never used by firmware.

Textbook method on the same field arithmetic as app.p256 (Python ints, `a * b % p`):
Jacobian coordinates (dbl-2001-b with a = -3, madd-2004-hmv), a separate left-to-right
double-and-add for u1*G and for u2*Q (256 doublings each, no tables), Fermat inversions.
`verify_shamir` is the same with one shared doubling chain (Shamir's trick), reported
next to it so a speedup is never quoted against a strawman only.
Runs under MicroPython and CPython.
"""
import hashlib

_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff
_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b
_GX = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
_GY = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5


def _dbl(X, Y, Z):
    p = _P
    delta = Z * Z % p
    gamma = Y * Y % p
    beta = X * gamma % p
    alpha = 3 * (X - delta) * (X + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    Z3 = ((Y + Z) * (Y + Z) - gamma - delta) % p
    Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
    return X3, Y3, Z3


def _madd(X1, Y1, Z1, x2, y2):
    p = _P
    if Z1 == 0:
        return x2, y2, 1
    T1 = Z1 * Z1 % p
    T2 = T1 * Z1 % p
    T1 = (T1 * x2 - X1) % p
    T2 = (T2 * y2 - Y1) % p
    if T1 == 0:
        if T2 == 0:
            return _dbl(x2, y2, 1)
        return 1, 1, 0
    Z3 = Z1 * T1 % p
    T3 = T1 * T1 % p
    T4 = T3 * T1 % p
    T3 = T3 * X1 % p
    X3 = (T2 * T2 - 2 * T3 - T4) % p
    Y3 = ((T3 - X3) * T2 - T4 * Y1) % p
    return X3, Y3, Z3


def _affine(X, Y, Z):
    p = _P
    zi = pow(Z, p - 2, p)
    zi2 = zi * zi % p
    return X * zi2 % p, Y * zi2 * zi % p


def _mul(k, x, y):
    X, Y, Z = 1, 1, 0
    for i in range(255, -1, -1):
        X, Y, Z = _dbl(X, Y, Z)
        if (k >> i) & 1:
            X, Y, Z = _madd(X, Y, Z, x, y)
    return X, Y, Z


def _add(A, B):
    if A[2] == 0:
        return B
    if B[2] == 0:
        return A
    bx, by = _affine(*B)
    return _madd(A[0], A[1], A[2], bx, by)


def _mul2_shamir(u1, u2, qx, qy):
    gq = _add((_GX, _GY, 1), (qx, qy, 1))
    gqx, gqy = _affine(*gq) if gq[2] else (0, 0)
    X, Y, Z = 1, 1, 0
    for i in range(255, -1, -1):
        X, Y, Z = _dbl(X, Y, Z)
        b = ((u1 >> i) & 1) | (((u2 >> i) & 1) << 1)
        if b == 1:
            X, Y, Z = _madd(X, Y, Z, _GX, _GY)
        elif b == 2:
            X, Y, Z = _madd(X, Y, Z, qx, qy)
        elif b == 3:
            if gq[2]:
                X, Y, Z = _madd(X, Y, Z, gqx, gqy)
            else:
                pass  # G + Q is infinity: adding it changes nothing
    return X, Y, Z


def _verify(pub65, msg, sig64, shamir):
    p = _P
    n = _N
    if len(pub65) != 65 or pub65[0] != 4 or len(sig64) != 64:
        return False
    qx = int.from_bytes(pub65[1:33], 'big')
    qy = int.from_bytes(pub65[33:], 'big')
    if qx >= p or qy >= p or (qy * qy - qx * qx * qx + 3 * qx - _B) % p:
        return False
    r = int.from_bytes(sig64[:32], 'big')
    s = int.from_bytes(sig64[32:], 'big')
    if not (0 < r < n and 0 < s < n):
        return False
    e = int.from_bytes(hashlib.sha256(msg).digest(), 'big')
    w = pow(s, n - 2, n)
    u1 = e * w % n
    u2 = r * w % n
    if shamir:
        R = _mul2_shamir(u1, u2, qx, qy)
    else:
        R = _add(_mul(u1, _GX, _GY), _mul(u2, qx, qy))
    if R[2] == 0:
        return False
    return _affine(*R)[0] % n == r


def verify(pub65, msg, sig64):
    """Plain double-and-add ES256 verify (the reference the speedup is quoted against)."""
    return _verify(pub65, msg, sig64, False)


def verify_shamir(pub65, msg, sig64):
    """Same, with u1*G + u2*Q on one doubling chain."""
    return _verify(pub65, msg, sig64, True)
