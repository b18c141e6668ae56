"""Plain-value wrappers of the decoders for batches run through mpy.map (results travel
by repr: tags and Sign1 objects become tuples)."""
from app import cbor, cose


def cbor_plain(data):
    """cbor.loads with tags as ('tag', n, value) tuples."""
    return plain(cbor.loads(data))


def plain(v):
    if isinstance(v, cbor.Tag):
        return ("tag", v.tag, plain(v.value))
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return dict((plain(k), plain(v[k])) for k in v)
    return v


def cose_plain(data):
    s = cose.decode_sign1(data)
    return (s.protected, s.kid, s.payload, s.signature, s.tbs())
