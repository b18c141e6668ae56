"""CBOR (RFC 8949) subset: a strict, bounded decoder and a tiny encoder.

Decoder (loads) accepts:
- unsigned and negative integers (major 0, 1) up to 64-bit arguments;
- byte strings (2) -> bytes, text strings (3) -> str, strictly valid UTF-8
  (no overlong forms, surrogates or code points above U+10FFFF);
- arrays (4) -> list, maps (5) -> dict with int, str or bytes keys and no duplicates;
- tags (6) -> Tag(tag, value);
- simple values false, true, null (7).
It rejects with CBORError (a ValueError): indefinite lengths, non-shortest heads
(RFC 8949 section 4.2.1 "preferred serialization" of arguments; map key order is not
checked), floats, undefined and other simple values, reserved additional info, input
shorter than any announced length, trailing bytes after the top-level item, nesting
deeper than max_depth containers (arrays, maps and tags) and more than max_items items
in total. Work and memory are bounded by the input length: a length or count is
checked against the remaining input before anything is sliced or looped over.
"""
from micropython import const

MAX_DEPTH = const(8)
MAX_ITEMS = const(256)

# smallest argument allowed for additional info 24, 25, 26, 27
_MIN_ARG = (24, 0x100, 0x10000, 0x100000000)


class CBORError(ValueError):
    pass


class Tag:
    """Tagged data item: tag number (int) and content (decoded item)."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


def _utf8_ok(mv, i, end):
    # RFC 3629 well-formedness: MicroPython's own decoder accepts surrogates and
    # overlong forms, so check here to decode the same strings as CPython.
    while i < end:
        c = mv[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            n = 1
        elif 0xE0 <= c <= 0xEF:
            n = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif 0xF0 <= c <= 0xF4:
            n = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return False
        if i + n >= end:
            return False
        c = mv[i + 1]
        if c < lo or c > hi:
            return False
        for k in range(i + 2, i + n + 1):
            c = mv[k]
            if c < 0x80 or c > 0xBF:
                return False
        i += n + 1
    return True


class _Decoder:
    def __init__(self, data, max_depth, max_items):
        self.mv = memoryview(data)
        self.pos = 0
        self.end = len(data)
        self.max_depth = max_depth
        self.items = max_items

    def arg(self, ai):
        if ai < 24:
            return ai
        if ai > 27:
            raise CBORError("indefinite length" if ai == 31 else "reserved info")
        p = self.pos
        n = 1 << (ai - 24)
        if n > self.end - p:
            raise CBORError("truncated")
        mv = self.mv
        v = 0
        for k in range(p, p + n):
            v = (v << 8) | mv[k]
        self.pos = p + n
        if v < _MIN_ARG[ai - 24]:
            raise CBORError("not shortest")
        return v

    def item(self, depth):
        self.items -= 1
        if self.items < 0:
            raise CBORError("too many items")
        p = self.pos
        if p >= self.end:
            raise CBORError("truncated")
        ib = self.mv[p]
        self.pos = p + 1
        major = ib >> 5
        ai = ib & 31
        if major == 7:
            if ai == 20:
                return False
            if ai == 21:
                return True
            if ai == 22:
                return None
            raise CBORError("unsupported simple")
        n = self.arg(ai)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major <= 3:
            p = self.pos
            if n > self.end - p:
                raise CBORError("truncated")
            self.pos = p + n
            if major == 2:
                return bytes(self.mv[p : p + n])
            if not _utf8_ok(self.mv, p, p + n):
                raise CBORError("bad utf-8")
            return str(bytes(self.mv[p : p + n]), "utf-8")
        if depth >= self.max_depth:
            raise CBORError("too deep")
        depth += 1
        if major == 6:
            return Tag(n, self.item(depth))
        # every array item takes at least one byte, every map entry two
        if (n << (major - 4)) > self.end - self.pos:
            raise CBORError("truncated")
        if major == 4:
            out = []
            for _ in range(n):
                out.append(self.item(depth))
            return out
        d = {}
        for _ in range(n):
            k = self.item(depth)
            t = type(k)
            if t is not int and t is not str and t is not bytes:
                raise CBORError("bad map key")
            if k in d:
                raise CBORError("duplicate key")
            d[k] = self.item(depth)
        return d


def loads(data, max_depth=MAX_DEPTH, max_items=MAX_ITEMS):
    """Decode exactly one CBOR item filling bytes-like `data`; raise CBORError."""
    d = _Decoder(data, max_depth, max_items)
    v = d.item(0)
    if d.pos != d.end:
        raise CBORError("trailing bytes")
    return v


def _head(out, major, n):
    mt = major << 5
    if n < 24:
        out.append(mt | n)
    elif n < 0x100:
        out.append(mt | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(mt | 25)
        out.extend(n.to_bytes(2, "big"))
    elif n < 0x100000000:
        out.append(mt | 26)
        out.extend(n.to_bytes(4, "big"))
    elif (n >> 64) == 0:
        out.append(mt | 27)
        out.extend(n.to_bytes(8, "big"))
    else:
        raise CBORError("int too large")


def _enc(out, v, depth):
    if depth > MAX_DEPTH:
        raise CBORError("too deep")
    t = type(v)
    if v is None:
        out.append(0xF6)
    elif v is False:
        out.append(0xF4)
    elif v is True:
        out.append(0xF5)
    elif t is int:
        if v >= 0:
            _head(out, 0, v)
        else:
            _head(out, 1, -1 - v)
    elif t is bytes or t is bytearray or t is memoryview:
        _head(out, 2, len(v))
        out.extend(v)
    elif t is str:
        b = v.encode()
        _head(out, 3, len(b))
        out.extend(b)
    elif t is list or t is tuple:
        _head(out, 4, len(v))
        for x in v:
            _enc(out, x, depth + 1)
    elif t is dict:
        # keys in bytewise order of their encodings (RFC 8949 4.2.1): the same bytes
        # on MicroPython, whose dicts do not keep insertion order
        keys = []
        for k in v:
            kb = bytearray()
            _enc(kb, k, depth + 1)
            keys.append((bytes(kb), k))
        keys.sort(key=lambda e: e[0])
        _head(out, 5, len(v))
        for kb, k in keys:
            out.extend(kb)
            _enc(out, v[k], depth + 1)
    elif t is Tag:
        _head(out, 6, v.tag)
        _enc(out, v.value, depth + 1)
    else:
        raise CBORError("cannot encode")


def dumps(v):
    """Encode None, bool, int, bytes, str, list/tuple, dict, Tag deterministically
    (RFC 8949 4.2.1: shortest heads, map keys sorted by their encoded bytes)."""
    out = bytearray()
    _enc(out, v, 0)
    return bytes(out)
