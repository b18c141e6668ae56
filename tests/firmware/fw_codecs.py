"""base45, CBOR and COSE_Sign1 decoders: published vectors and every rejection rule.
Runs under CPython and MicroPython."""
from binascii import hexlify, unhexlify

import passvectors as V
from app import base45, cbor, cose


def _h(s):
    return unhexlify(s.replace(" ", ""))


def _err(exc, f, *args):
    """The message of the `exc` that f(*args) must raise."""
    try:
        r = f(*args)
    except exc as e:
        return str(e)
    raise AssertionError("no %s for %r: got %r" % (exc.__name__, args, r))


# ------------------------------------------------------------------ base45

B45_RFC9285 = (  # RFC 9285 section 4.3 / 4.4
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
)


def test_base45_rfc9285_vectors():
    for raw, text in B45_RFC9285:
        assert base45.encode(raw) == text, (raw, base45.encode(raw))
        assert base45.decode(text) == raw
        assert base45.decode(text.encode()) == raw
        assert base45.decode(bytearray(text.encode())) == raw
        assert base45.decode(memoryview(text.encode())) == raw


def test_base45_range_edges():
    assert base45.decode("FGW") == b"\xff\xff"  # 65535, the largest 3-character group
    assert base45.decode("U5") == b"\xff"  # 255, the largest 2-character group
    assert base45.decode("00") == b"\x00"
    assert base45.decode("000") == b"\x00\x00"
    assert _err(base45.Base45Error, base45.decode, "GGW") == "bad group"  # 65536
    assert _err(base45.Base45Error, base45.decode, ":::") == "bad group"  # 91124
    assert _err(base45.Base45Error, base45.decode, "V5") == "bad group"  # 256
    assert _err(base45.Base45Error, base45.decode, "::") == "bad group"


def test_base45_rejects_bad_length_and_characters():
    for bad in ("A", "BB8A", "%69 VD92EX0AB"):
        assert _err(base45.Base45Error, base45.decode, bad) == "bad length"
    for bad in ("bb8", "BB8\n", "BB\x00", "BB\xe9", "=B8", "B_8", b"BB\xff", b"B#8", "\u4e2d\u6587", "QED8WEx0"):
        assert _err(base45.Base45Error, base45.decode, bad) in ("bad character", "bad length"), bad
    assert isinstance(base45.Base45Error("x"), ValueError)


def test_base45_every_byte_pair_roundtrips():
    # all 65536 two-byte values would take too long on MicroPython: every byte in
    # both positions plus a stride over the rest covers each digit of each group
    for a in range(256):
        for b in (0, 1, 44, 45, 127, 128, 254, 255, a):
            raw = bytes((a, b))
            t = base45.encode(raw)
            assert len(t) == 3 and base45.decode(t) == raw, raw
        t = base45.encode(bytes((a,)))
        assert len(t) == 2 and base45.decode(t) == bytes((a,))


# ------------------------------------------------------------------ CBOR

# RFC 8949 Appendix A: every example inside the supported subset (value, hex)
CBOR_RFC8949 = (
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"),
    (1000, "1903e8"), (1000000, "1a000f4240"), (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"), (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (False, "f4"), (True, "f5"), (None, "f6"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\"\\", "62225c"), ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
    (cbor.Tag(1, 1363896240), "c11a514b67b0"),
    (cbor.Tag(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (cbor.Tag(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
)


def test_cbor_rfc8949_appendix_a_decodes_and_encodes():
    for value, hx in CBOR_RFC8949:
        got = cbor.loads(_h(hx))
        assert got == value and type(got) is type(value), (hx, got)
        assert hexlify(cbor.dumps(value)).decode() == hx, (value, cbor.dumps(value))


CBOR_REJECT = (  # (hex, message): the RFC 8949 examples outside the subset, and malformations
    ("f90000", "unsupported simple"), ("fa47c35000", "unsupported simple"),  # floats
    ("fb3ff199999999999a", "unsupported simple"),
    ("f7", "unsupported simple"), ("f0", "unsupported simple"), ("f8ff", "unsupported simple"),
    ("ff", "unsupported simple"),  # a lone break
    ("5f42010243030405ff", "indefinite length"), ("7f657374726561646d696e67ff", "indefinite length"),
    ("9fff", "indefinite length"), ("bf61610161629f0203ffff", "indefinite length"),
    ("1c", "reserved info"), ("3d", "reserved info"), ("5e", "reserved info"), ("dc", "reserved info"),
    ("1817", "not shortest"), ("1900ff", "not shortest"), ("1a0000ffff", "not shortest"),
    ("1b00000000ffffffff", "not shortest"), ("3800", "not shortest"), ("580100", "not shortest"),
    ("780161", "not shortest"), ("980100", "not shortest"), ("b8010000", "not shortest"),
    ("d80100", "not shortest"),
    ("", "truncated"), ("19", "truncated"), ("1901", "truncated"), ("6261", "truncated"),
    ("830102", "truncated"), ("a201", "truncated"), ("c1", "truncated"),
    ("9bffffffffffffffff", "truncated"), ("bb0000000100000000", "truncated"),
    ("5bffffffffffffffff00", "truncated"), ("a2010203", "truncated"),
    ("0000", "trailing bytes"), ("8000", "trailing bytes"), ("a0f6", "trailing bytes"),
    ("a201000100", "duplicate key"), ("a2616100616101", "duplicate key"), ("a2410000410001", "duplicate key"),
    ("a18000", "bad map key"), ("a1a000", "bad map key"), ("a1f600", "bad map key"),
    ("a1f500", "bad map key"), ("a1c10000", "bad map key"),
    ("61ff", "bad utf-8"), ("6180", "bad utf-8"), ("62c080", "bad utf-8"), ("62c1bf", "bad utf-8"),
    ("63e08080", "bad utf-8"), ("63eda080", "bad utf-8"), ("63edbfbf", "bad utf-8"),
    ("64f0808080", "bad utf-8"), ("64f4908080", "bad utf-8"), ("64f5808080", "bad utf-8"),
    ("62c328", "bad utf-8"), ("61c3", "bad utf-8"), ("62e282", "bad utf-8"), ("63f09f98", "bad utf-8"),
)


def test_cbor_rejections():
    for hx, msg in CBOR_REJECT:
        assert _err(cbor.CBORError, cbor.loads, _h(hx)) == msg, (hx, msg)
    assert isinstance(cbor.CBORError("x"), ValueError)


def test_cbor_utf8_edges_accepted():
    for s in ("\x7f", "\x80", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"):
        b = s.encode()
        enc = bytes((0x60 | len(b),)) + b
        assert cbor.loads(enc) == s, hexlify(b)


def test_cbor_depth_limit():
    assert cbor.loads(b"\x81" * 8 + b"\x00") is not None
    assert _err(cbor.CBORError, cbor.loads, b"\x81" * 9 + b"\x00") == "too deep"
    assert _err(cbor.CBORError, cbor.loads, b"\xc1" * 9 + b"\x00") == "too deep"
    assert _err(cbor.CBORError, cbor.loads, b"\xa1\x00" * 9 + b"\x00") == "too deep"
    assert cbor.loads(b"\x81\x81\x00", 2) == [[0]]
    assert _err(cbor.CBORError, cbor.loads, b"\x81\x81\x00", 1) == "too deep"
    # a deep nest fails at the limit, long before the input ends
    assert _err(cbor.CBORError, cbor.loads, b"\x81" * 5000) == "too deep"


def test_cbor_item_limit():
    ok = b"\x98\xff" + b"\x00" * 255  # 1 array + 255 items = 256
    assert len(cbor.loads(ok)) == 255
    assert _err(cbor.CBORError, cbor.loads, b"\x99\x01\x00" + b"\x00" * 256) == "too many items"
    assert _err(cbor.CBORError, cbor.loads, b"\x83\x01\x02\x03", 8, 3) == "too many items"
    assert cbor.loads(b"\x83\x01\x02\x03", 8, 4) == [1, 2, 3]


def test_cbor_accepts_memoryview_and_bytearray():
    enc = _h("a26161016162820203")
    assert cbor.loads(memoryview(enc)) == {"a": 1, "b": [2, 3]}
    assert cbor.loads(bytearray(enc)) == {"a": 1, "b": [2, 3]}
    assert cbor.loads(memoryview(b"\x00" + enc)[1:]) == {"a": 1, "b": [2, 3]}


def test_cbor_dumps_rejects_what_it_cannot_encode():
    assert _err(cbor.CBORError, cbor.dumps, 1 << 64) == "int too large"
    assert _err(cbor.CBORError, cbor.dumps, -(1 << 64) - 1) == "int too large"
    assert _err(cbor.CBORError, cbor.dumps, 1.5) == "cannot encode"
    nest = []
    for _ in range(20):
        nest = [nest]
    assert _err(cbor.CBORError, cbor.dumps, nest) == "too deep"
    v = {"k": [1, -2, b"x", "y", None, True, False, cbor.Tag(5, {})]}
    assert cbor.loads(cbor.dumps(v)) == v


# ------------------------------------------------------------------ COSE_Sign1


def test_cose_decodes_host_pass_and_builds_the_same_sig_structure():
    raw = _h(V.COSE_HEX)
    s = cose.decode_sign1(raw)
    kid, _ = V.KEYS[0]
    assert hexlify(s.kid).decode() == kid
    assert s.alg == -7 and len(s.signature) == 64
    assert s.tbs() == _h(V.TBS_HEX)  # byte-identical to cbor2's encoding
    assert s.protected == cbor.dumps({1: -7, 4: s.kid})
    assert cbor.loads(s.payload)[1] == V.COMMUNITY


def test_cose_sig_structure_lengths():
    assert cose.sig_structure(b"", b"") == b"\x84\x6aSignature1\x40\x40\x40"
    for n, head in ((23, b"\x57"), (24, b"\x58\x18"), (255, b"\x58\xff"), (256, b"\x59\x01\x00"),
                    (300, b"\x59\x01\x2c")):
        payload = b"p" * n
        t = cose.sig_structure(b"\xa0", payload)
        assert t == b"\x84\x6aSignature1\x41\xa0\x40" + head + payload, n
        assert cbor.loads(t, 2, 8) == ["Signature1", b"\xa0", b"", payload]
    assert _err(cose.COSEError, cose.sig_structure, b"", b"x" * 65536) == "too long"


def _sign1(protected=None, unprotected=b"\xa0", payload=b"\x41\x00", sig=None, tag=b"\xd2", count=b"\x84"):
    if protected is None:
        protected = b"\x4d\xa2\x01\x26\x04\x48" + b"k" * 8
    if sig is None:
        sig = b"\x58\x40" + b"s" * 64
    return tag + count + protected + unprotected + payload + sig


def test_cose_structure_rules():
    s = cose.decode_sign1(_sign1())
    assert s.kid == b"k" * 8 and s.payload == b"\x00" and s.signature == b"s" * 64
    bad = (
        (_sign1(tag=b""), "not tag 18"),
        (_sign1(tag=b"\xd1"), "not tag 18"),
        (_sign1(tag=b"\xd8\x12"), "cbor: not shortest"),
        (_sign1(count=b"\x83")[:-66], "not a 4-array"),
        (_sign1() + b"\x00", "cbor: trailing bytes"),
        (_sign1(payload=b"\xf6"), "not bstr"),  # detached payload
        (_sign1(protected=b"\xa2\x01\x26\x04\x48" + b"k" * 8), "cbor: too many items"),
        (_sign1(protected=b"\x60"), "not bstr"),
        (_sign1(unprotected=b"\xa1\x04\x41k"), "cbor: too many items"),
        (_sign1(unprotected=b"\x80"), "unprotected not empty"),
        (_sign1(sig=b"\x58\x3f" + b"s" * 63), "signature length"),
        (_sign1(sig=b"\x58\x41" + b"s" * 65), "signature length"),
        (_sign1(protected=b"\x40"), "protected: truncated"),
        (_sign1(protected=b"\x43\xa1\x01\x26"), "protected header"),
        (_sign1(protected=b"\x45\xa2\x01\x26\x04\x40"), "kid"),
        (_sign1(protected=b"\x56\xa2\x01\x26\x04\x51" + b"k" * 17), "kid"),
        (_sign1(protected=b"\x46\xa2\x01\x26\x04\x61k"), "kid"),
        (_sign1(protected=b"\x4e\xa2\x01\x38\x22\x04\x48" + b"k" * 8), "alg"),
        (_sign1(protected=b"\x4d\xa2\x01\xf5\x04\x48" + b"k" * 8), "alg"),
        (_sign1(protected=b"\x4d\xa2\x02\x26\x04\x48" + b"k" * 8), "alg"),
        (_sign1(protected=b"\x4d\xa2\x01\x26\x01\x48" + b"k" * 8), "protected: duplicate key"),
        (_sign1(protected=b"\x44\x81\x81\x81\x00"), "protected: too deep"),
        (b"\xd2\x84" + b"\x40" * 3, "cbor: truncated"),
        (b"", "cbor: truncated"),
    )
    for raw, msg in bad:
        assert _err(cose.COSEError, cose.decode_sign1, raw) == msg, (hexlify(raw), msg)
    assert isinstance(cose.COSEError("x"), ValueError)
    # a 16-byte kid is the longest accepted
    s = cose.decode_sign1(_sign1(protected=b"\x55\xa2\x01\x26\x04\x50" + b"k" * 16))
    assert s.kid == b"k" * 16
