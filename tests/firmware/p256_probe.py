"""Helpers for the app.p256 tests, importable on both runtimes (also via mpy.map)."""
from app import p256


def mul2_x(u1, u2, pub65):
    """Affine x of u1*G + u2*Q (Q from pub65, or G itself if pub65 is None); None at infinity."""
    if pub65 is None:
        tq = p256._g_table()
    else:
        tq = p256.PublicKey(pub65)._t
    p256._g_table()
    X, ZZ = p256._mul2(u1, u2, tq)
    if not ZZ:
        return None
    return X * pow(ZZ, p256._P - 2, p256._P) % p256._P


def verify_many(pub65, pairs):
    """[PublicKey(pub65).verify(msg, sig) for (msg, sig) in pairs], the table built once."""
    key = p256.PublicKey(pub65)
    return [key.verify(m, s) for m, s in pairs]


def affine_double_x(x, y):
    """x(2P) for an affine point, by the textbook chord-tangent rule (independent check)."""
    p = p256._P
    lam = (3 * x * x - 3) * pow(2 * y, p - 2, p) % p
    return (lam * lam - 2 * x) % p
