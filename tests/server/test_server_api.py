"""Device API through Django's test client: ingest, ack, gaps, auth, alerts, bundles."""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatepass import hmacauth
from gatepass.issuing import bundles
from server_helpers import (ALLOWED, IN, OUT, TRUSTED, corrupt, db, dj, fever, make_community,  # noqa: F401
                            make_device, passages, rec)
from gatepass.mp.fw import reasons, record

EVENTS = "/api/device/v1/events"
BUNDLE = "/api/device/v1/bundle"
STATUS = "/api/device/v1/status"


class Dev:
    """A simulated device talking to the in-process server through the test client."""

    def __init__(self, device, clock=None, epoch=hmacauth.LEGACY_EPOCH):
        from django.test import Client

        self.epoch = epoch
        self.id = device.pk
        self.secret = device.secret_bytes
        self.client = Client()
        self.clock = clock or time.time
        self._last_t = None

    def _now(self):
        # a real device never signs two identical requests in one second: the test
        # client is fast, so step the clock instead of sleeping
        t = int(self.clock())
        if self._last_t is not None and t <= self._last_t:
            t = self._last_t + 1
        self._last_t = t
        return t

    def signed(self, method, path, body=b"", base=None, now=None, secret=None):
        return hmacauth.signed_headers(self.id, secret or self.secret, method, path, body,
                                       self._now() if now is None else now, base, self.epoch)

    def post(self, records: bytes, base=None, headers=None, **kw):
        h = headers or self.signed("POST", EVENTS, records, base, **kw)
        r = self.client.post(EVENTS, records, content_type="application/octet-stream", headers=h)
        r.req_sig = h.get(hmacauth.H_SIGNATURE, "")
        return r

    def bundle(self):
        h = self.signed("GET", BUNDLE)
        r = self.client.get(BUNDLE, headers=h)
        r.req_sig = h.get(hmacauth.H_SIGNATURE, "")
        return r

    def status(self, **fields):
        body = json.dumps(fields).encode()
        h = self.signed("POST", STATUS, body)
        r = self.client.post(STATUS, body, content_type="application/json", headers=h)
        r.req_sig = h.get(hmacauth.H_SIGNATURE, "")
        return r

    def verify(self, r) -> bool:
        return hmacauth.verify_response(self.secret, r.req_sig, r.content, r.headers.get(hmacauth.H_SIGNATURE))


@pytest.fixture
def site(db):
    c = make_community()
    d = make_device(c)
    return c, d, Dev(d)


def count(device):
    from gatepass.server.models import Event

    return Event.objects.filter(device=device).count()


def reload(obj):
    obj.refresh_from_db()
    return obj


# ------------------------------------------------------------------ ingest


def test_batch_is_stored_with_every_record_field(site):
    from gatepass.server.models import Event

    c, d, dev = site
    t = 1_790_000_000
    body = rec(1, t, reason=0, flags=TRUSTED | ALLOWED | OUT, role=3, pid=b"\x01\x02\x03\x04\x05\x06\x07\x08",
               body=3655, obj=3470, amb=-512, aux=77)
    r = dev.post(body, base=1)
    assert r.status_code == 200, r.content
    a = r.json()
    assert a["acked_seq"] == 1 and a["stored"] == 1 and a["rejected"] == 0
    assert abs(a["time"] - time.time()) < 5
    assert a["bundle_version"] == reload(c).bundle_version
    e = Event.objects.get(device=d, seq=1)
    assert (e.time_raw, e.kind, e.reason, e.flags, e.role, e.pid) == (t, 1, 0, TRUSTED | ALLOWED | OUT, 3,
                                                                      "0102030405060708")
    assert (e.body, e.obj, e.amb, e.aux) == (3655, 3470, -512, 77)
    assert e.at == dt.datetime.fromtimestamp(t, dt.timezone.utc)
    assert e.allowed and e.direction == 2 and e.time_trusted and not e.fever and not e.urgent


def test_no_temperature_and_unknown_time_are_stored_as_null_and_arrival(site):
    from gatepass.server.models import Event

    c, d, dev = site
    before = dt.datetime.now(dt.timezone.utc)
    r = dev.post(record.pack(1, 0, record.K_BOOT, aux=3))
    assert r.status_code == 200
    e = Event.objects.get(device=d, seq=1)
    assert e.body is None and e.obj is None and e.amb is None and e.role is None
    assert e.time_raw == 0 and e.at >= before - dt.timedelta(seconds=1)
    assert not e.allowed and e.direction == 0


def test_duplicate_batch_is_idempotent(site):
    c, d, dev = site
    t = int(time.time())  # the same records again: the same device time, however slow the server
    batch = passages(range(1, 51), t)
    first = dev.post(batch, base=1).json()
    again = dev.post(batch, base=1).json()
    assert first["stored"] == 50 and first["duplicates"] == 0
    assert again["stored"] == 0 and again["duplicates"] == 50
    assert first["acked_seq"] == again["acked_seq"] == 50
    assert count(d) == 50
    # an overlapping batch stores only what is new
    r = dev.post(passages(range(40, 61), t), base=1).json()
    assert (r["stored"], r["duplicates"], r["acked_seq"]) == (10, 11, 60)
    assert count(d) == 60
    assert reload(d).events_total == 60


def test_same_seq_twice_in_one_batch_is_stored_once(site):
    c, d, dev = site
    r = dev.post(rec(1) + rec(2) + rec(2, body=3900) + rec(3)).json()
    assert r["stored"] == 3 and r["acked_seq"] == 3
    from gatepass.server.models import Event

    assert Event.objects.get(device=d, seq=2).body == 3650  # the first copy wins


def test_ack_is_highest_contiguous_and_fills_holes_later(site):
    c, d, dev = site
    assert dev.post(passages([1, 2, 3, 4, 5, 8, 9, 10]), base=1).json()["acked_seq"] == 5
    assert dev.post(passages([12, 13]), base=1).json()["acked_seq"] == 5
    assert dev.post(passages([7]), base=1).json()["acked_seq"] == 5
    # 6 arrives: 7..10 are already held (earlier batches), 11 still missing
    assert dev.post(passages([6]), base=1).json()["acked_seq"] == 10
    assert dev.post(passages([11]), base=1).json()["acked_seq"] == 13
    assert reload(d).acked_seq == 13 and reload(d).max_seq == 13


def test_fever_first_out_of_order_upload(site):
    """The device sends urgent events first: the ack waits for the older ones."""
    c, d, dev = site
    assert dev.post(fever(30), base=1).json()["acked_seq"] == 0
    assert dev.post(passages(range(1, 30)), base=1).json()["acked_seq"] == 30


def test_gap_below_base_is_jumped_and_recorded(site):
    from gatepass.server.models import Gap

    c, d, dev = site
    assert dev.post(passages(range(1, 6)), base=1).json()["acked_seq"] == 5
    # the device's log dropped 6..19 (drop policy) and says it now holds 20 and up
    r = dev.post(passages(range(20, 26)), base=20).json()
    assert r["acked_seq"] == 25 and r["lost"] == 14
    g = Gap.objects.get(device=d)
    assert (g.first_seq, g.last_seq, g.missing) == (6, 19, 14)
    assert reload(d).lost_total == 14
    # a later batch with the same base records nothing new
    r = dev.post(passages(range(26, 28)), base=20).json()
    assert r["acked_seq"] == 27 and r["lost"] == 0 and Gap.objects.filter(device=d).count() == 1


def test_gap_counts_only_seqs_never_received(site):
    from gatepass.server.models import Gap

    c, d, dev = site
    dev.post(passages([1, 2, 4, 7]), base=1)
    r = dev.post(passages([10]), base=10).json()
    # 3, 5, 6, 8, 9 never arrived; 4 and 7 did
    assert r["lost"] == 5 and r["acked_seq"] == 10
    assert Gap.objects.get(device=d).missing == 5


def test_lost_seq_arriving_late_is_still_stored(site):
    c, d, dev = site
    dev.post(passages([5]), base=5)
    r = dev.post(passages([2]), base=5).json()
    assert r["stored"] == 1 and r["acked_seq"] == 5 and count(d) == 2


def test_bad_crc_records_are_rejected_individually(site):
    c, d, dev = site
    batch = [rec(s) for s in range(1, 6)]
    batch[2] = corrupt(batch[2])
    r = dev.post(b"".join(batch), base=1).json()
    assert (r["stored"], r["rejected"], r["acked_seq"]) == (4, 1, 2)
    assert reload(d).crc_errors == 1
    assert count(d) == 4
    # the device resends it intact
    r = dev.post(rec(3), base=1).json()
    assert (r["stored"], r["rejected"], r["acked_seq"]) == (1, 0, 5)


def test_zero_kind_record_is_rejected(site):
    c, d, dev = site
    r = dev.post(record.pack(1, 0, 0)).json()  # CRC fine, but kind 0 is never valid
    assert r["rejected"] == 1 and r["stored"] == 0


def test_body_not_multiple_of_32_is_400(site):
    c, d, dev = site
    r = dev.post(rec(1) + b"\x00" * 5)
    assert r.status_code == 400 and r.json()["code"] == "bad_length"
    assert dev.verify(r)  # authentic request: the error answer is signed too
    assert count(d) == 0


def test_too_many_records_is_413(site):
    from gatepass.server import ingest

    c, d, dev = site
    r = dev.post(passages(range(1, ingest.MAX_RECORDS + 2), t=1_790_000_000))
    assert r.status_code == 413 and r.json()["code"] == "too_many"
    assert count(d) == 0


def test_empty_batch_answers_the_ack(site):
    c, d, dev = site
    dev.post(passages([1, 2]))
    r = dev.post(b"")
    assert r.status_code == 200 and r.json()["acked_seq"] == 2 and r.json()["stored"] == 0


def _reference_ack(stored: set[int], max_base: int) -> int:
    covered = stored | set(range(1, max_base))
    a = 0
    while a + 1 in covered:
        a += 1
    return a


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_ack_matches_a_reference_model(dj, data):
    """Random uploads (out of order, duplicated, split, with drops reported through
    base): the ack is always the highest seq below which everything is held or lost."""
    from django.db import transaction

    from gatepass.server.models import Event

    n = data.draw(st.integers(1, 40), label="n")
    with transaction.atomic():
        c = make_community("c-" + uuid.uuid4().hex[:8])
        d = make_device(c, "d-" + uuid.uuid4().hex[:8])
        dev = Dev(d)
        stored: set[int] = set()
        max_base = 0
        for _ in range(data.draw(st.integers(1, 6), label="batches")):
            seqs = data.draw(st.lists(st.integers(1, n), max_size=12), label="seqs")
            base = data.draw(st.one_of(st.none(), st.integers(0, n + 1)), label="base")
            r = dev.post(passages(seqs, t=1_790_000_000), base=base)
            assert r.status_code == 200
            stored |= set(seqs)
            if base is not None:
                max_base = max(max_base, base)
            assert r.json()["acked_seq"] == _reference_ack(stored, max_base)
        assert Event.objects.filter(device=d).count() == len(stored)
        transaction.set_rollback(True)


# ------------------------------------------------------------------ alerts


def test_fever_creates_an_alert_at_once_and_only_once(site):
    from gatepass.server.models import Alert

    c, d, dev = site
    batch = passages([1, 2]) + fever(3, body=3912)
    dev.post(batch)
    a = Alert.objects.get(device=d)
    assert a.kind == "fever" and a.event.seq == 3 and a.event.body == 3912 and a.event.fever
    assert a.acknowledged_at is None
    dev.post(batch)  # retry of the same batch: no second alert
    assert Alert.objects.filter(device=d).count() == 1


@pytest.mark.parametrize("kind,reason,flags,expect", [
    (record.K_PASSAGE, reasons.QUARANTINED, TRUSTED | OUT | record.F_URGENT, "urgent"),
    (record.K_DOOR_FORCED, 0, TRUSTED | record.F_ALARM, "alarm"),
    (record.K_DOOR_FORCED, 0, TRUSTED, "door_forced"),
    (record.K_LOG_NEAR_FULL, 0, TRUSTED, "log_near_full"),
    (record.K_DROPPED, 0, TRUSTED, "dropped"),
    (record.K_PASSAGE, reasons.EXPIRED, TRUSTED | IN, None),
    (record.K_BOOT, 0, 0, None),
])
def test_alert_kinds(site, kind, reason, flags, expect):
    from gatepass.server.models import Alert

    c, d, dev = site
    dev.post(rec(1, kind=kind, reason=reason, flags=flags))
    got = list(Alert.objects.filter(device=d).values_list("kind", flat=True))
    assert got == ([expect] if expect else [])
    if kind == record.K_LOG_NEAR_FULL:
        assert reload(d).log_near_full


# ------------------------------------------------------------------ authentication


def _failures(code):
    from gatepass.server.models import AuthFailure

    return AuthFailure.objects.filter(code=code).count()


def test_wire_strings_computed_by_hand(site):
    """The exact HMAC strings of docs/uplink.md, independent of gatepass.hmacauth."""
    import hashlib
    import hmac

    c, d, dev = site
    body = passages([1, 2])
    t = str(int(time.time()))
    ep = "00000000000000ab"
    sig = hmac.new(dev.secret, b"POST\n/api/device/v1/events\n" + t.encode() + b"\n" + ep.encode() + b"\n1\n" + body,
                   hashlib.sha256).hexdigest()
    h = {"X-Gatepass-Device": d.pk, "X-Gatepass-Time": t, "X-Gatepass-Signature": sig, "X-Gatepass-Base": "1",
         "X-Gatepass-Epoch": ep}
    r = dev.client.post(EVENTS, body, content_type="application/octet-stream", headers=h)
    assert r.status_code == 200 and r.json()["acked_seq"] == 2
    expect = hmac.new(dev.secret, b"resp\n" + sig.encode() + b"\n" + r.content, hashlib.sha256).hexdigest()
    assert r.headers["X-Gatepass-Signature"] == expect
    # upper-case hex is accepted as well (the comparison is on the value)
    body = passages([3])
    sig = hmac.new(dev.secret, b"POST\n/api/device/v1/events\n" + t.encode() + b"\n" + ep.encode() + b"\n1\n" + body,
                   hashlib.sha256).hexdigest().upper()
    h.update({"X-Gatepass-Signature": sig})
    r = dev.client.post(EVENTS, body, content_type="application/octet-stream", headers=h)
    assert r.status_code == 200
    assert r.headers["X-Gatepass-Signature"] == hmac.new(
        dev.secret, b"resp\n" + sig.lower().encode() + b"\n" + r.content, hashlib.sha256).hexdigest()


def test_answers_are_signed_and_bound_to_the_request(site):
    c, d, dev = site
    r = dev.post(passages([1]))
    sig = r.headers[hmacauth.H_SIGNATURE]
    assert dev.verify(r)
    assert not hmacauth.verify_response(dev.secret, r.req_sig, r.content + b" ", sig)
    other = hmacauth.sign_request(dev.secret, "POST", EVENTS, "1", b"")
    assert not hmacauth.verify_response(dev.secret, other, r.content, sig)


def test_wrong_hmac_is_rejected_logged_and_counted(site, caplog):
    c, d, dev = site
    caplog.set_level(logging.WARNING, logger="gatepass.auth")
    r = dev.post(passages([1]), secret=b"\x00" * 32)
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    assert hmacauth.H_SIGNATURE not in r.headers  # nothing signed for an unauthenticated caller
    assert count(d) == 0
    assert reload(d).auth_failures == 1 and reload(d).last_auth_failure == "bad_signature"
    assert _failures("bad_signature") == 1
    assert any("bad_signature" in m for m in caplog.messages)


@pytest.mark.parametrize("tamper", ["body", "path", "method", "time", "device", "base", "base-added",
                                    "base-removed", "epoch"])
def test_any_signed_part_changed_is_rejected(site, tamper):
    c, d, dev = site
    other = make_device(c, "gate-s-out", "South gate", "out")
    body = passages([1])
    h = dev.signed("POST", EVENTS, body, None if tamper == "base-added" else 1)
    path = EVENTS
    if tamper == "body":
        body = passages([2])
    elif tamper == "path":
        h = dev.signed("POST", STATUS, body)
    elif tamper == "method":
        h = dev.signed("PUT", EVENTS, body)
    elif tamper == "time":
        h[hmacauth.H_TIME] = str(int(h[hmacauth.H_TIME]) + 1)
    elif tamper == "device":
        h[hmacauth.H_DEVICE] = other.pk
    elif tamper in ("base", "base-added"):
        # finding 2: the base moves the server's acknowledged position: never unsigned
        h[hmacauth.H_BASE] = "4294967295"
    elif tamper == "base-removed":
        del h[hmacauth.H_BASE]
    elif tamper == "epoch":
        h[hmacauth.H_EPOCH] = "00000000000000ff"
    r = dev.client.post(path, body, content_type="application/octet-stream", headers=h)
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    assert count(d) == 0 and count(other) == 0


def test_unknown_device_is_rejected_and_logged(site, caplog):
    c, d, dev = site
    caplog.set_level(logging.WARNING, logger="gatepass.auth")
    body = passages([1])
    h = hmacauth.signed_headers("no-such-gate", dev.secret, "POST", EVENTS, body)
    r = dev.client.post(EVENTS, body, content_type="application/octet-stream", headers=h)
    # finding 8: the same answer as a bad signature, so the API does not reveal which ids
    # exist; staff still see the real reason
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    wrong = dev.post(body, secret=b"\x00" * 32)
    assert wrong.json() == r.json()
    assert hmacauth.H_SIGNATURE not in r.headers
    assert _failures("unknown_device") == 1 and _failures("bad_signature") == 1
    assert any("unknown_device" in m and "no-such-gate" in m for m in caplog.messages)


@pytest.mark.parametrize("offset,ok", [(-301, False), (301, False), (-300, True), (300, True), (-100000, False)])
def test_timestamp_window(site, offset, ok, monkeypatch):
    import types

    from gatepass.server import deviceauth

    # the server's clock is held still: at the window's edge a second ticking between
    # signing and checking would decide the case
    frozen = int(time.time())
    monkeypatch.setattr(deviceauth, "time", types.SimpleNamespace(time=lambda: frozen))
    c, d, dev = site
    r = dev.post(passages([1]), now=frozen + offset)
    if ok:
        assert r.status_code == 200
    else:
        assert r.status_code == 401
        a = r.json()
        assert a["code"] == "stale_time"
        # the answer gives the server time, signed against the device's own request,
        # so a device with a wrong clock can set it
        assert abs(a["time"] - time.time()) < 5
        assert dev.verify(r)
        assert count(d) == 0 and reload(d).auth_failures == 1


def test_replayed_signature_is_rejected(site, caplog):
    c, d, dev = site
    caplog.set_level(logging.WARNING, logger="gatepass.auth")
    body = passages([1, 2])
    h = dev.signed("POST", EVENTS, body)
    assert dev.post(body, headers=dict(h)).status_code == 200
    r = dev.post(body, headers=dict(h))
    assert r.status_code == 401 and r.json()["code"] == "replay"
    assert _failures("replay") == 1 and reload(d).auth_failures == 1
    # the same signature on another endpoint fails its own check (path is signed)
    r = dev.client.post(STATUS, body, content_type="application/json", headers=dict(h))
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    assert any("replay" in m for m in caplog.messages)


def test_replayed_status_is_rejected_and_changes_nothing(site):
    c, d, dev = site
    body = json.dumps({"firmware": "1.0", "backlog": 5}).encode()
    h = dev.signed("POST", STATUS, body)
    assert dev.client.post(STATUS, body, content_type="application/json", headers=dict(h)).status_code == 200
    d.refresh_from_db()
    seen = d.last_seen
    r = dev.client.post(STATUS, body, content_type="application/json", headers=dict(h))
    assert r.status_code == 401 and r.json()["code"] == "replay"
    assert reload(d).last_seen == seen and reload(d).auth_failures == 1 and _failures("replay") == 1


def test_replayed_upload_stores_nothing(site):
    from gatepass.server.models import Alert

    c, d, dev = site
    first = passages([1])
    h = dev.signed("POST", EVENTS, first)
    assert dev.post(first, headers=dict(h)).status_code == 200
    # same signature, and the server must not even look at the body
    r = dev.post(first, headers=dict(h))
    assert r.status_code == 401 and count(d) == 1 and Alert.objects.count() == 0
    assert reload(d).events_total == 1


def test_replayed_bundle_request_is_rejected(site):
    c, d, dev = site
    h = dev.signed("GET", BUNDLE)
    assert dev.client.get(BUNDLE, headers=dict(h)).status_code == 200
    r = dev.client.get(BUNDLE, headers=dict(h))
    assert r.status_code == 401 and r.json()["code"] == "replay"


@pytest.mark.parametrize("drop", [hmacauth.H_DEVICE, hmacauth.H_TIME, hmacauth.H_SIGNATURE])
def test_missing_auth_header(site, drop):
    c, d, dev = site
    body = passages([1])
    h = dev.signed("POST", EVENTS, body)
    del h[drop]
    r = dev.post(body, headers=h)
    assert r.status_code == 401 and r.json()["code"] == "missing_auth"
    assert _failures("missing_auth") == 1


@pytest.mark.parametrize("field,value", [(hmacauth.H_TIME, "12x"), (hmacauth.H_TIME, "-5"),
                                         (hmacauth.H_SIGNATURE, "zz" * 32), (hmacauth.H_SIGNATURE, "ab")])
def test_malformed_auth_header(site, field, value):
    c, d, dev = site
    body = passages([1])
    h = dev.signed("POST", EVENTS, body)
    h[field] = value
    r = dev.post(body, headers=h)
    assert r.status_code == 401 and r.json()["code"] == "bad_header"


def test_disabled_device_is_refused(site):
    c, d, dev = site
    d.active = False
    d.save()
    r = dev.post(passages([1]))
    assert r.status_code == 403 and r.json()["code"] == "device_disabled"
    assert count(d) == 0


def test_replay_table_expires(site):
    from gatepass.server import deviceauth
    from gatepass.server.models import SeenSignature

    c, d, dev = site
    dev.post(passages([1]))
    assert SeenSignature.objects.count() == 1
    deviceauth._purge_seen(int(time.time()) + hmacauth.MAX_SKEW_S + 5)
    assert SeenSignature.objects.count() == 0


# ------------------------------------------------------------------ status


def test_status_heartbeat_updates_device_health(site):
    c, d, dev = site
    dev.post(passages([1, 2, 3]))
    r = dev.status(firmware="0.3.1", bundle_version=7, backlog=42, log_used_pct=85, log_near_full=True,
                   uptime_s=3600, nonce="abc")
    assert r.status_code == 200 and dev.verify(r)
    a = r.json()
    assert a["acked_seq"] == 3 and a["bundle_version"] == reload(c).bundle_version
    d = reload(d)
    assert (d.firmware, d.bundle_version, d.backlog, d.log_used_pct, d.log_near_full, d.uptime_s) == (
        "0.3.1", 7, 42, 85, True, 3600)
    assert d.last_seen is not None


@pytest.mark.parametrize("fields", [dict(log_used_pct=101), dict(bundle_version=2**64), dict(backlog=-1),
                                    dict(firmware="1.0\x00"), dict(nonce="\u00e9"), dict(uptime_s=2**41),
                                    dict(firmware="x" * 33)])
def test_status_schema_errors_are_422(site, fields):
    c, d, dev = site
    r = dev.status(**fields)
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    assert reload(d).firmware == ""


# ------------------------------------------------------------------ bundles


def _verify_bundle(c, data):
    from gatepass.server import bundlesvc

    pub = bundlesvc.bundle_public(c)
    return bundles.verify(data, {bytes.fromhex(pub["kid"]): bytes.fromhex(pub["pub"])})


def test_bundle_download_verifies_and_matches_the_ack_version(site):
    c, d, dev = site
    r = dev.bundle()
    assert r.status_code == 200 and r["Content-Type"] == "application/cbor"
    assert dev.verify(r)
    m = _verify_bundle(c, r.content)
    ack = dev.post(passages([1])).json()
    assert m[bundles.B_VERSION] == int(r["X-Gatepass-Bundle-Version"]) == ack["bundle_version"]
    assert m[bundles.B_COMMUNITY] == c.pk and m[bundles.B_MODE] == 0 and m[bundles.B_THRESHOLD] == 3730
    assert abs(m[bundles.B_ISSUED] - time.time()) < 5
    assert len(m[bundles.B_KEYS]) == 1
    # the same version is served from the cache, byte for byte
    assert dev.bundle().content == r.content


def test_bundle_signed_by_another_key_does_not_verify(site):
    from gatepass.issuing import keys

    c, d, dev = site
    data = dev.bundle().content
    other = keys.generate()
    with pytest.raises(bundles.BundleError):
        bundles.verify(data, {bytes.fromhex(c.bundle_kid): other.pub65})


def _version(c):
    from gatepass.server import bundlesvc

    return bundlesvc.current_version(c.pk)


def _changes():
    """(name, change function) pairs that must each produce a new bundle version."""
    from gatepass.issuing import keys

    def M():
        from gatepass.server import models

        return models

    def mode(c):
        c.mode = 2
        c.save()

    def threshold(c):
        c.threshold_cc = 3750
        c.save()

    def settings_(c):
        c.device_settings = {"unlock_s": 7}
        c.save()

    def bundle_key(c):
        k = keys.generate()
        from gatepass.server.models import pem

        c.bundle_key_pem, c.bundle_kid = pem(k), k.kid.hex()
        c.save()

    def issuer_add(c):
        k = keys.generate()
        M().IssuerKey.objects.create(community=c, kid=k.kid.hex(), pub=k.pub65.hex())

    def issuer_retire(c):
        k = M().IssuerKey.objects.filter(community=c).first()
        k.active = False
        k.save()

    def quarantine_add(c):
        M().Quarantine.objects.create(community=c, building=3, entrance=1, room=1203)

    def quarantine_lift(c):
        q = M().Quarantine.objects.create(community=c, building=4)
        _version(c)
        q.end = q.start
        q.save()

    def quarantine_delete(c):
        M().Quarantine.objects.create(community=c, building=5)
        _version(c)
        M().Quarantine.objects.filter(community=c, building=5).get().delete()

    def revoke(c):
        p = _pass(c)
        p.revoked = True
        p.save()

    def unrevoke(c):
        p = _pass(c, revoked=True)
        p = M().Pass.objects.get(pk=p.pk)
        p.revoked = False
        p.save()

    def delete_revoked(c):
        p = _pass(c, revoked=True)
        _version(c)
        M().Pass.objects.get(pk=p.pk).delete()

    def revoke_by_fresh_instance(c):
        p = _pass(c)
        q = M().Pass.objects.get(pk=p.pk)
        q.revoked = True
        q.save()

    return [mode, threshold, settings_, bundle_key, issuer_add, issuer_retire, quarantine_add, quarantine_lift,
            quarantine_delete, revoke, unrevoke, delete_revoked, revoke_by_fresh_instance]


def _pass(c, revoked=False, cti=None):
    from django.utils import timezone

    from gatepass.server.models import Pass

    now = timezone.now()
    return Pass.objects.create(community=c, cti=cti or uuid.uuid4().hex[:16], role=0, building=1, entrance=1, room=1,
                               nbf=now, exp=now + dt.timedelta(days=30), revoked=revoked)


@pytest.mark.parametrize("change", _changes(), ids=lambda f: f.__name__)
def test_every_rule_change_bumps_the_bundle_version(site, change):
    c, d, dev = site
    before = dev.bundle()
    v0 = int(before["X-Gatepass-Bundle-Version"])
    change(reload(c))
    v1 = _version(c)
    assert v1 > v0
    after = dev.bundle()
    assert int(after["X-Gatepass-Bundle-Version"]) == v1
    m = _verify_bundle(reload(c), after.content)
    assert m[bundles.B_VERSION] == v1
    assert dev.post(b"").json()["bundle_version"] == v1


@pytest.mark.parametrize("name", ["no_change", "rename", "device_add", "pass_issue", "events"])
def test_changes_that_gates_do_not_need_keep_the_version(site, name):
    c, d, dev = site
    dev.bundle()
    v0 = _version(c)
    if name == "rename":
        c.name = "Maple Court East"
        c.retention_days = 30
        c.save()
    elif name == "device_add":
        make_device(c, "gate-e-in", "East", "in")
    elif name == "pass_issue":
        _pass(c)
    elif name == "events":
        dev.post(passages(range(1, 10)))
    elif name == "no_change":
        reload(c).save()
    assert _version(c) == v0
    assert int(dev.bundle()["X-Gatepass-Bundle-Version"]) == v0


def test_bundle_content_follows_the_rules(site):
    from gatepass.server.models import Quarantine

    c, d, dev = site
    p1 = _pass(c, revoked=True, cti="ffeeddccbbaa99887766")
    p2 = _pass(c, revoked=True, cti="0011223344556677")
    _pass(c, revoked=False, cti="aaaaaaaaaaaaaaaa")
    Quarantine.objects.create(community=c, building=7)
    Quarantine.objects.create(community=c, building=3, entrance=2, room=501)
    Quarantine.objects.create(community=c, building=9, end=dt.datetime(2000, 1, 2, tzinfo=dt.timezone.utc),
                              start=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))  # long over
    c = reload(c)
    c.mode, c.threshold_cc, c.device_settings = 1, 3760, {"comp_k_pm": 120, "passback": "soft"}
    c.save()
    m = _verify_bundle(c, dev.bundle().content)
    assert bundles.revoked_ids(m) == [bytes.fromhex("0011223344556677"), bytes.fromhex("ffeeddccbbaa9988")]
    assert m[bundles.B_QUARANTINED] == [[3, 2, 501], [7, 0, 0]]
    assert m[bundles.B_MODE] == 1 and m[bundles.B_THRESHOLD] == 3760
    s = m[bundles.B_SETTINGS]
    assert s["comp_k_pm"] == 120 and s["passback"] == "soft" and "mode" not in s and "threshold" not in s
    assert p1.pid == "ffeeddccbbaa9988" and p2.pid == "0011223344556677"


def test_expired_revoked_passes_age_out(site):
    from django.utils import timezone

    from gatepass.server import bundlesvc
    from gatepass.server.models import Pass

    c, d, dev = site
    now = timezone.now()
    Pass.objects.create(community=c, cti="1111111111111111", nbf=now - dt.timedelta(days=60),
                        exp=now - dt.timedelta(days=8), revoked=True)
    Pass.objects.create(community=c, cti="2222222222222222", nbf=now - dt.timedelta(days=60),
                        exp=now - dt.timedelta(days=6), revoked=True)
    m = _verify_bundle(c, bundlesvc.current_bundle(c.pk)[0])
    assert bundles.revoked_ids(m) == [bytes.fromhex("2222222222222222")]


def test_quarantine_starting_later_bumps_the_version_when_it_starts(site):
    from django.utils import timezone

    from gatepass.server import bundlesvc
    from gatepass.server.models import Quarantine

    c, d, dev = site
    now = timezone.now()
    Quarantine.objects.create(community=c, building=12, start=now + dt.timedelta(hours=1))
    data, v1 = bundlesvc.current_bundle(c.pk, now)
    assert _verify_bundle(c, data)[bundles.B_QUARANTINED] == []
    later = now + dt.timedelta(hours=2)
    bundlesvc._checked.clear()
    v2 = bundlesvc.current_version(c.pk, later)
    assert v2 == v1 + 1
    data, v3 = bundlesvc.current_bundle(c.pk, later)
    assert v3 == v2 and _verify_bundle(c, data)[bundles.B_QUARANTINED] == [[12, 0, 0]]
    # and when it ends, even without the boundary check, the next build bumps again
    end = now + dt.timedelta(days=20)
    data, v4 = bundlesvc.current_bundle(c.pk, end)
    assert v4 == v3 + 1 and _verify_bundle(c, data)[bundles.B_QUARANTINED] == []


def test_invalid_device_settings_are_refused(dj):
    from django.core.exceptions import ValidationError

    from gatepass.server.models import Community

    for bad in ({"unlock_s": 99}, {"no_such": 1}, {"mode": "sealed"}, {"threshold": 38}, [1]):
        with pytest.raises(ValidationError):
            Community(id="x", name="x", device_settings=bad).clean()
    Community(id="x", name="x", device_settings={"unlock_s": 8, "passback": "off"}).clean()


def test_documented_vectors():
    """docs/uplink.md's test vector, recomputed with hmac/hashlib and gatepass.hmacauth."""
    import hashlib
    import hmac

    secret = bytes(range(32))
    body = bytes.fromhex("01000000803bb16a01000b000102030405060708420e980d600900007713446f")
    assert record.unpack(body)[0] == 1  # a valid record
    ep = "1f2e3d4c5b6a7988"
    msg = b"POST\n/api/device/v1/events\n1790000005\n1f2e3d4c5b6a7988\n1\n" + body
    sig = "fc078e625030b4559f10a6797904b5140704db69c4e51b8c8c98ab9631e8cea0"
    assert hmac.new(secret, msg, hashlib.sha256).hexdigest() == sig
    assert hmacauth.sign_request(secret, "POST", "/api/device/v1/events", "1790000005", body, ep, "1") == sig
    answer = (b'{"acked_seq": 1, "time": 1790000006, "bundle_version": 3, "stored": 1, "duplicates": 0, '
              b'"conflicts": 0, "rejected": 0, "lost": 0}')
    rsig = "9bfbf5977477dd6b0c2770415aa92104b5f7c0733a85bf945196b3032ba199ef"
    assert hmacauth.sign_response(secret, sig, answer) == rsig
    assert hmacauth.verify_response(secret, sig, answer, rsig)
    assert hmacauth.sign_request(secret, "GET", "/api/device/v1/bundle", 1790000010, b"", ep) == (
        "9e957b6ae786eda6632e85d70faa842d90f31b644b6c26ee77341d04bed82f8d")
    # and the documented MicroPython HMAC (run here under CPython) agrees
    import binascii

    def hmac_sha256(key, msg):
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key + bytes(64 - len(key))
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        inner.update(msg)
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        outer.update(inner.digest())
        return binascii.hexlify(outer.digest())

    assert hmac_sha256(secret, msg).decode() == sig


def test_answer_without_consumed_signature_is_refused(site):
    """Safety net: a device view that forgot the replay check cannot answer 200."""
    from django.http import JsonResponse
    from django.test import RequestFactory

    from gatepass.server.deviceauth import ResponseSigningMiddleware

    c, d, dev = site
    req = RequestFactory().post(EVENTS)
    req.gatepass_device, req.gatepass_signature, req.gatepass_consumed = d, "ab" * 32, False
    r = ResponseSigningMiddleware(lambda request: JsonResponse({"ok": 1}))(req)
    assert r.status_code == 500
    req.gatepass_consumed = True
    r = ResponseSigningMiddleware(lambda request: JsonResponse({"ok": 1}))(req)
    assert r.status_code == 200 and hmacauth.verify_response(dev.secret, "ab" * 32, r.content,
                                                             r[hmacauth.H_SIGNATURE])


# ------------------------------------------------------------------ log epochs (issue 12)


def _events(d, epoch=None):
    from gatepass.server.models import Event

    qs = Event.objects.filter(device=d)
    if epoch is not None:
        qs = qs.filter(epoch=epoch)
    return sorted(qs.values_list("seq", flat=True))


def test_a_reflashed_device_starts_a_new_seq_space_and_loses_nothing(site):
    """Finding 1: re-provisioned with the old fragment, the new log restarts at seq 1.
    The server must neither hand it the old log's ack nor take its new records as
    duplicates; the old events stay and staff see one "log restarted" event."""
    from gatepass.server.models import Alert, Event, LogEpoch

    c, d, dev = site
    old = Dev(d, epoch="aaaaaaaaaaaaaaaa")
    a = old.post(passages(range(1, 51), pid=b"old-0001"), base=1).json()
    assert a["acked_seq"] == 50 and a["stored"] == 50
    new = Dev(d, epoch="bbbbbbbbbbbbbbbb")
    st = new.status(backlog=50)
    assert st.status_code == 200 and st.json()["acked_seq"] == 0  # not the old log's 50
    a = new.post(passages(range(1, 51), pid=b"new-0001"), base=1).json()
    assert (a["acked_seq"], a["stored"], a["duplicates"], a["conflicts"]) == (50, 50, 0, 0)
    assert _events(d, "aaaaaaaaaaaaaaaa") == list(range(1, 51)) == _events(d, "bbbbbbbbbbbbbbbb")
    assert set(Event.objects.filter(device=d, epoch="bbbbbbbbbbbbbbbb").values_list("pid", flat=True)) == {
        b"new-0001".hex()}
    restarts = Event.objects.filter(device=d, kind=record.K_LOG_RESTART)
    assert restarts.count() == 1 and restarts[0].pid == "aaaaaaaaaaaaaaaa"
    assert Alert.objects.filter(device=d, kind="log_restarted").count() == 1
    assert new.post(passages([51]), base=1).json()["acked_seq"] == 51
    assert Event.objects.filter(device=d, kind=record.K_LOG_RESTART).count() == 1
    d = reload(d)
    assert d.epoch == "bbbbbbbbbbbbbbbb" and d.acked_seq == 51 and d.lost_total == 0
    assert dict(LogEpoch.objects.filter(device=d).values_list("epoch", "acked_seq")) == {
        "aaaaaaaaaaaaaaaa": 50, "bbbbbbbbbbbbbbbb": 51}


def test_a_devices_first_log_is_adopted_without_a_restart_event(site):
    from gatepass.server.models import Event

    c, d, dev = site
    dev.epoch = "cccccccccccccccc"
    assert dev.status().json()["acked_seq"] == 0
    assert dev.post(passages([1, 2]), base=1).json()["acked_seq"] == 2
    assert not Event.objects.filter(device=d, kind=record.K_LOG_RESTART).exists()


def test_a_seq_held_with_other_content_is_a_conflict_not_a_duplicate(site):
    """Finding 1: a seq the server holds was taken as a duplicate without comparing."""
    from gatepass.server.models import Alert, Conflict, Event

    c, d, dev = site
    t = 1_790_000_000
    assert dev.post(passages([1, 2, 3], t), base=1).json()["stored"] == 3
    a = dev.post(passages([1, 2], t) + rec(3, t, pid=b"other-p1"), base=1).json()
    assert (a["duplicates"], a["conflicts"], a["stored"], a["acked_seq"]) == (2, 1, 0, 3)
    cf = Conflict.objects.get(device=d)
    assert cf.seq == 3 and bytes.fromhex(cf.record) == rec(3, t, pid=b"other-p1")
    assert Event.objects.get(device=d, seq=3, epoch=dev.epoch).pid == b"pid-0001".hex()  # the first copy stays
    assert Alert.objects.filter(device=d, kind="conflict").count() == 1
    assert reload(d).conflicts == 1


@pytest.mark.parametrize("bad", ["seq0", "seqmax", "kind_server", "kind200"])
def test_records_out_of_bounds_are_refused(site, bad):
    """Finding 3: seq 0 / 0xFFFFFFFF and kinds no device writes were stored."""
    c, d, dev = site
    r = {"seq0": rec(0), "seqmax": rec(0xFFFFFFFF), "kind_server": rec(1, kind=record.K_LOG_RESTART),
         "kind200": rec(1, kind=200)}[bad]
    a = dev.post(r + rec(2)).json()
    assert a["rejected"] == 1 and a["stored"] == 1
    assert _events(d) == [2]


def test_an_unsigned_base_cannot_move_the_ack(site):
    """Finding 2: X-Gatepass-Base = 4294967295 set on the way made the server declare
    everything lost and answer a signed ack that made the device drop its backlog."""
    c, d, dev = site
    body = passages([1])
    h = dev.signed("POST", EVENTS, body)
    h[hmacauth.H_BASE] = "4294967295"
    r = dev.post(body, headers=h)
    assert r.status_code == 401 and hmacauth.H_SIGNATURE not in r.headers
    d = reload(d)
    assert d.acked_seq == 0 and d.lost_total == 0 and count(d) == 0


@pytest.mark.parametrize("base", ["-1", "4294967296", "1e3", " 7", "0x10"])
def test_a_malformed_signed_base_is_a_signed_422(site, base):
    c, d, dev = site
    body = passages([1])
    t = str(dev._now())
    h = {hmacauth.H_DEVICE: d.pk, hmacauth.H_TIME: t, hmacauth.H_EPOCH: dev.epoch, hmacauth.H_BASE: base,
         hmacauth.H_SIGNATURE: hmacauth.sign_request(dev.secret, "POST", EVENTS, t, body, dev.epoch, base)}
    r = dev.post(body, headers=h)
    assert r.status_code in (401, 422), r.content
    if r.status_code == 422:
        assert r.json()["code"] == "invalid" and dev.verify(r)
    assert count(d) == 0 and reload(d).lost_total == 0


def test_missing_or_malformed_epoch_is_refused(site):
    c, d, dev = site
    body = passages([1])
    for ep in (None, "ABCDEF0123456789", "abc", "0123456789abcdefg"):
        h = dev.signed("POST", EVENTS, body)
        if ep is None:
            del h[hmacauth.H_EPOCH]
        else:
            h[hmacauth.H_EPOCH] = ep
        r = dev.post(body, headers=h)
        assert r.status_code == 401 and r.json()["code"] in ("missing_auth", "bad_header")
    assert count(d) == 0


# ------------------------------------------------------------------ auth failures (issue 12, finding 8)


def test_a_flood_of_bogus_requests_is_counted_not_stored_row_by_row(site, monkeypatch):
    """500 rejected requests wrote 500 AuthFailure rows, each under the global writer lock."""
    from gatepass.server import deviceauth, dblock
    from gatepass.server.models import AuthFailure

    c, d, dev = site
    real = dblock.writer
    taken = []

    def counting():
        taken.append(1)
        return real()

    monkeypatch.setattr(dblock, "writer", counting)
    frozen = time.time()
    monkeypatch.setattr(deviceauth, "_clock", lambda: frozen)  # one minute, one flush period
    body = passages([1])
    for i in range(200):
        dev.post(body, secret=b"\x00" * 32)  # one known id, wrong secret
    for i in range(300):
        h = hmacauth.signed_headers("ghost-%d" % i, dev.secret, "POST", EVENTS, body, dev._now())
        dev.post(body, headers=h)  # invented ids
    # a write per new (id, reason) up to the cap, then every FAILURE_FLUSH_S
    assert len(taken) <= deviceauth.FAILURE_KEYS_PER_MINUTE + 3, len(taken)
    deviceauth.flush_failures()
    rows = list(AuthFailure.objects.values_list("device_id", "code", "count"))
    assert len(rows) <= deviceauth.FAILURE_KEYS_PER_MINUTE + 3, len(rows)
    assert sum(n for _, code, n in rows if code == "bad_signature") == 200
    assert sum(n for _, code, n in rows if code == "unknown_device") == 300
    assert ("*", "unknown_device") in {(i, code) for i, code, _ in rows}
    assert reload(d).auth_failures == 200
