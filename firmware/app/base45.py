"""Base45 (RFC 9285), strict.

decode() accepts str or a bytes-like object (bytes, bytearray, memoryview) and
returns bytes; every malformed input raises Base45Error: a character outside the
45-character alphabet (lower case included), a trailing group of one character, or
a group whose value is out of range (> 65535 for three characters, > 255 for two).
Base45 has exactly one encoding per byte string, so decode(encode(b)) == b and
encode(decode(s)) == s for every accepted s.
"""

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

# character code -> value 0..44; 0xFF marks characters outside the alphabet
_VALUE = bytearray(b"\xff" * 256)
for _i in range(45):
    _VALUE[ALPHABET[_i]] = _i


class Base45Error(ValueError):
    pass


def decode(s):
    """Decode base45 text (str or bytes-like) to bytes; raise Base45Error."""
    if isinstance(s, str):
        try:
            s = s.encode()
        except UnicodeError:  # CPython: lone surrogates
            raise Base45Error("bad character")
    n = len(s)
    tail = n % 3
    if tail == 1:
        raise Base45Error("bad length")
    out = bytearray((n // 3) * 2 + (tail >> 1))
    t = _VALUE
    i = 0
    o = 0
    full = n - tail
    while i < full:
        a = t[s[i]]
        b = t[s[i + 1]]
        c = t[s[i + 2]]
        # valid values are < 64, the invalid marker has bit 7 set
        if (a | b | c) & 0x80:
            raise Base45Error("bad character")
        v = a + b * 45 + c * 2025
        if v > 0xFFFF:
            raise Base45Error("bad group")
        out[o] = v >> 8
        out[o + 1] = v & 0xFF
        i += 3
        o += 2
    if tail:
        a = t[s[i]]
        b = t[s[i + 1]]
        if (a | b) & 0x80:
            raise Base45Error("bad character")
        v = a + b * 45
        if v > 0xFF:
            raise Base45Error("bad group")
        out[o] = v
    return bytes(out)


def encode(data):
    """Encode bytes-like `data` as base45 text (str)."""
    n = len(data)
    out = bytearray((n // 2) * 3 + (n & 1) * 2)
    a = ALPHABET
    i = 0
    o = 0
    while i + 1 < n:
        v = (data[i] << 8) | data[i + 1]
        out[o] = a[v % 45]
        v //= 45
        out[o + 1] = a[v % 45]
        out[o + 2] = a[v // 45]
        i += 2
        o += 3
    if i < n:
        v = data[i]
        out[o] = a[v % 45]
        out[o + 1] = a[v // 45]
    return out.decode()
