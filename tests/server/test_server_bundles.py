"""Host-side bundles (gatepass.issuing.bundles): encoding, ES256 signing, and verification by
`cryptography` and by the device's own code (app.cose + app.p256 + app.cbor), under
CPython and under MicroPython."""
from __future__ import annotations

import math

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.issuing import bundles, keys
from gatepass.mp import fw  # noqa: F401  (firmware on sys.path)
from server_helpers import dj  # noqa: F401

KEY = keys.from_scalar(0x1D2C3B4A59687766554433221100FFEEDDCCBBAA99887766554433221100AABB, b"bk-test")
ISSUER = keys.from_scalar(0x0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF)


def full_settings(**over):
    from gatepass.mp.fw import settings as s

    d = s.validate(over)
    d.pop("mode")
    d.pop("threshold")
    return d


def content(n_revoked=3, **kw):
    base = dict(
        community="maple-court", mode=1, threshold_cc=3740,
        revoked=[bytes([i]) * 10 for i in range(n_revoked, 0, -1)],
        quarantined=[(7, 0, 0), (3, 2, 501), (3, 2, 501)],
        settings=full_settings(comp_k_pm=120, comp_offset_cc=-35, passback="soft"),
        keys=[(ISSUER.kid, ISSUER.pub65)],
    )
    base.update(kw)
    return bundles.Content(**base)


def test_layout_and_verification_with_cryptography():
    data = bundles.build(KEY, content(), 42, 1_790_000_000)
    tag = cbor2.loads(data)
    assert tag.tag == 18
    protected, unprotected, payload, sig = tag.value
    assert cbor2.loads(protected) == {1: -7, 4: b"bk-test"} and unprotected == {}
    assert len(sig) == 64  # raw r || s, not DER
    # check the signature independently of gatepass.issuing.bundles.verify
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    KEY.private.public_key().verify(der, tbs, ec.ECDSA(hashes.SHA256()))
    m = cbor2.loads(payload)
    assert sorted(m) == list(range(1, 10))
    assert m[1] == 42 and m[2] == 1_790_000_000 and m[3] == "maple-court" and m[4] == 1 and m[5] == 3740
    assert m[6] == b"".join(bytes([i]) * 8 for i in (1, 2, 3))  # sorted 8-byte pass ids
    assert m[7] == [[3, 2, 501], [7, 0, 0]]  # sorted, duplicates gone
    assert m[9] == [[ISSUER.kid, ISSUER.pub65]]
    v = bundles.verify(data, {KEY.kid: KEY.pub65})
    assert v[8]["comp_k_pm"] == 120 and v[8]["comp_offset_cc"] == -35 and v[8]["passback"] == "soft"


def test_no_floats_anywhere_in_the_payload():
    payload = cbor2.loads(cbor2.loads(bundles.build(KEY, content(), 1, 0)).value[2], tag_hook=lambda d, t: t)

    def walk(v):
        assert not isinstance(v, float)
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, cbor2.CBORTag):
            assert v.tag == 4 and all(isinstance(x, int) for x in v.value)

    walk(payload)


def test_payload_is_deterministic():
    a = bundles.encode_payload(content(), 5, 100)
    b = bundles.encode_payload(content(revoked=list(reversed(content().revoked))), 5, 100)
    assert a == b
    assert content().digest() == content(quarantined=[(3, 2, 501), (7, 0, 0)]).digest()
    assert content().digest() != content(mode=2).digest()


@settings(max_examples=60)
@given(pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_flipped_bit_fails_verification(pos, bit):
    data = bytearray(bundles.build(KEY, content(), 7, 1_790_000_000))
    pos %= len(data)
    data[pos] ^= 1 << bit
    with pytest.raises(bundles.BundleError):
        bundles.verify(bytes(data), {KEY.kid: KEY.pub65})


def test_unknown_kid_and_wrong_key_fail():
    data = bundles.build(KEY, content(), 7, 0)
    with pytest.raises(bundles.BundleError, match="unknown kid"):
        bundles.verify(data, {b"other": KEY.pub65})
    with pytest.raises(bundles.BundleError, match="bad signature"):
        bundles.verify(data, {KEY.kid: ISSUER.pub65})


@pytest.mark.parametrize("bad", [
    dict(mode=3), dict(threshold_cc=4100), dict(quarantined=[(0, 0, 0)]), dict(quarantined=[(1, 0, 5)]),
    dict(settings={"mode": "sealed"}), dict(keys=[(b"k", b"\x04" * 64)]),
])
def test_invalid_content_is_refused(bad):
    with pytest.raises(bundles.BundleError):
        bundles.encode_payload(content(**bad), 1, 0)


@settings(max_examples=200)
@given(st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False))
def test_decimal_settings_round_trip(d):
    v = float(d)
    enc = cbor2.loads(cbor2.dumps(bundles._decimal(v), canonical=True))
    back = bundles.undecimal(enc)
    assert back == v or math.isclose(back, v, rel_tol=0, abs_tol=1e-9)


# ------------------------------------------------------------------ the device's code


def _device_check(data: bytes, pub65: bytes):
    """What the gate does with a bundle: strict COSE decode, ES256 verify, CBOR decode."""
    from app import cbor, cose, p256

    s = cose.decode_sign1(data)
    ok = p256.PublicKey(pub65).verify(s.tbs(), s.signature)
    m = cbor.loads(s.payload, 8, 2000) if ok else None
    return s.kid, ok, m


def test_device_code_verifies_the_bundle_under_cpython():
    from app import cbor
    from app import settings as fs

    data = bundles.build(KEY, content(n_revoked=50), 9, 1_790_000_000)
    kid, ok, m = _device_check(data, KEY.pub65)
    assert kid == KEY.kid and ok
    assert m[1] == 9 and m[3] == "maple-court" and len(m[6]) == 50 * 8
    # the device's decimal handling (tag 4) gives the settings back; the device's own
    # Settings accepts the map together with keys 4 and 5
    dec = {k: (v.value[1] * 10.0 ** v.value[0] if isinstance(v, cbor.Tag) else v) for k, v in m[8].items()}
    dec["mode"] = m[4]
    dec["threshold"] = m[5] / 100
    s = fs.Settings(dec)
    assert s.mode == 1 and s.threshold_cc == 3740 and s.comp_k_pm == 120 and s.passback == 1
    # tampered payload: the device refuses it
    bad = bytearray(data)
    bad[-70] ^= 1
    assert _device_check(bytes(bad), KEY.pub65)[1] is False


def test_device_code_verifies_the_bundle_under_micropython(mpy):
    data = bundles.build(KEY, content(n_revoked=20), 11, 1_790_000_000)
    bad = bytearray(data)
    bad[40] ^= 0x10
    code = """
from app import cbor, cose, p256
k = p256.PublicKey(%r)
def check(data):
    try:
        s = cose.decode_sign1(data)
    except ValueError:
        return 'malformed'
    if not k.verify(s.tbs(), s.signature):
        return 'bad'
    m = cbor.loads(s.payload, 8, 2000)
    return [m[1], m[3], m[4], m[5], len(m[6]), m[7], sorted(m[8])[:3], len(m[9])]
print(repr(check(%r)))
print(repr(check(%r)))
""" % (KEY.pub65, data, bytes(bad))
    out = mpy.run(code).strip().splitlines()
    assert out[0] == repr([11, "maple-court", 1, 3740, 160, [[3, 2, 501], [7, 0, 0]],
                           ["admitted_roles", "comp_k_pm", "comp_offset_cc"], 1])
    assert out[1] in ("'bad'", "'malformed'")


def test_server_bundle_verifies_with_device_code(dj):
    """The bytes the server serves (with its stored key) pass the device's checks."""
    from django.db import transaction

    from gatepass.server import bundlesvc
    from gatepass.server.models import Quarantine

    with transaction.atomic():
        c = bundlesvc.create_community("dev-verify", "Device verify")
        Quarantine.objects.create(community=c, building=2, entrance=1)
        data, version = bundlesvc.current_bundle(c.pk)
        pub = bundlesvc.bundle_public(c)
        kid, ok, m = _device_check(data, bytes.fromhex(pub["pub"]))
        assert ok and kid.hex() == pub["kid"] and m[1] == version and m[7] == [[2, 1, 0]]
        transaction.set_rollback(True)


def test_documented_micropython_hmac_runs_on_micropython(mpy):
    """docs/uplink.md's HMAC-SHA256 snippet, on the real MicroPython runtime."""
    from gatepass import hmacauth

    secret = bytes(range(32))
    body = bytes.fromhex("01000000803bb16a01000b000102030405060708420e980d600900007713446f")
    code = """
import hashlib, binascii

def hmac_sha256(key, msg):
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return binascii.hexlify(outer.digest())

print(hmac_sha256(%r, b"POST\\n/api/device/v1/events\\n1790000005\\n0123456789abcdef\\n1\\n" + %r).decode())
print(hmac_sha256(b"k" * 100, b"long key").decode())
""" % (secret, body)
    out = mpy.run(code).split()
    assert out[0] == hmacauth.sign_request(secret, "POST", "/api/device/v1/events", "1790000005", body,
                                           "0123456789abcdef", 1)
    import hashlib
    import hmac

    assert out[1] == hmac.new(b"k" * 100, b"long key", hashlib.sha256).hexdigest()
