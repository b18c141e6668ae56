"""Uplink protocol logic under both runtimes: HMAC (RFC 4231), request signing, batch
building from a real event log, ack / backoff / time-sync decisions.

The "server" here is a few lines that sign answers the way hmacauth.py does; the
CPython-only tests (tests/firmware/test_uplink.py) check those strings against the real server
module.
"""
import binascii
import json
import struct

from app import record, uplink
from app.clock import Clock
from app.eventlog import EventLog

from core_doubles import NOW, VirtualClock, tmpdir

# RFC 4231 section 4: (key, data, HMAC-SHA256, truncate-to-bytes or 0)
RFC4231 = (
    ("0b" * 20, binascii.hexlify(b"Hi There").decode(),
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 0),
    (binascii.hexlify(b"Jefe").decode(), binascii.hexlify(b"what do ya want for nothing?").decode(),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 0),
    ("aa" * 20, "dd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 0),
    ("0102030405060708090a0b0c0d0e0f10111213141516171819", "cd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 0),
    ("0c" * 20, binascii.hexlify(b"Test With Truncation").decode(),
     "a3b6167473100ee06e0c796c2955552b", 16),
    ("aa" * 131, binascii.hexlify(b"Test Using Larger Than Block-Size Key - Hash Key First").decode(),
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 0),
    ("aa" * 131, binascii.hexlify(b"This is a test using a larger than block-size key and a larger "
                                  b"than block-size data. The key needs to be hashed before being "
                                  b"used by the HMAC algorithm.").decode(),
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 0),
)

SECRET = b"0123456789abcdef0123456789abcdef"


def unhex(s):
    return binascii.unhexlify(s)


def test_hmac_sha256_rfc4231_vectors():
    for key, data, want, trunc in RFC4231:
        d = uplink.hmac_sha256(unhex(key), unhex(data))
        if trunc:
            d = d[:trunc]
        assert binascii.hexlify(d).decode() == want, (key[:8], want)


def test_hmac_over_parts_equals_hmac_over_the_joined_message():
    mac = uplink.Hmac(b"k" * 70)
    whole = b"POST\n/x\n1\n" + bytes(range(256))
    assert mac.digest((b"POST\n/x", b"\n1\n", bytes(range(100)), bytes(range(100, 256)))) \
        == mac.digest((whole,)) == uplink.hmac_sha256(b"k" * 70, whole)
    assert mac.digest((whole,)) != uplink.hmac_sha256(b"k" * 69, whole)


def test_same_is_exact_and_case_insensitive():
    assert uplink.same("ab" * 32, "AB" * 32)
    assert not uplink.same("ab" * 32, "ab" * 31 + "ac")
    assert not uplink.same("ab" * 32, "ab" * 31)
    assert not uplink.same(None, "ab")


EP = "0123456789abcdef"


def test_request_signature_covers_method_path_time_epoch_base_and_body():
    mac = uplink.Hmac(SECRET)
    base = uplink.sign_request(mac, "POST", "/api/device/v1/events", NOW, (b"abc",), EP, "7")
    msg = ("POST\n/api/device/v1/events\n%d\n%s\n7\nabc" % (NOW, EP)).encode()
    assert base == binascii.hexlify(uplink.hmac_sha256(SECRET, msg)).decode()
    assert len(base) == 64
    for other in (uplink.sign_request(mac, "GET", "/api/device/v1/events", NOW, (b"abc",), EP, "7"),
                  uplink.sign_request(mac, "POST", "/api/device/v1/event", NOW, (b"abc",), EP, "7"),
                  uplink.sign_request(mac, "POST", "/api/device/v1/events", NOW + 1, (b"abc",), EP, "7"),
                  uplink.sign_request(mac, "POST", "/api/device/v1/events", NOW, (b"abd",), EP, "7"),
                  uplink.sign_request(mac, "POST", "/api/device/v1/events", NOW, (b"abc",), EP, "8"),
                  uplink.sign_request(mac, "POST", "/api/device/v1/events", NOW, (b"abc",), EP, ""),
                  uplink.sign_request(mac, "POST", "/api/device/v1/events", NOW, (b"abc",),
                                      "0123456789abcdee", "7")):
        assert other != base


# ---- a small device and a server that answers like the real one


class Rig:
    def __init__(self, batch=8, t=NOW, seg=50, trusted=True):
        d = tmpdir("up")
        self.wall = VirtualClock(t)
        self.clock = Clock(d + "/clock", now_fn=self.wall, offset=0)
        if trusted:
            self.clock.set(t, 4)  # set by a technician: the uplink's own sync stays quiet
        self.log = EventLog(d + "/log", self.clock, seg_records=seg, max_segments=8, batch=batch)
        self.rolls = []
        self.up = uplink.Uplink("gate-1", SECRET, self.log, self.clock, batch=batch,
                                linger_ms=5000, status_ms=60000, min_ms=1000, max_ms=64000,
                                auth_ms=600000, rand=self.rand)
        self.mac = uplink.Hmac(SECRET)

    def rand(self, n):
        self.rolls.append(n)
        return n - 1  # the longest wait the jitter allows

    def passage(self, i, urgent=False):
        f = record.F_ALLOWED | record.F_IN
        if urgent:
            f = record.F_IN | record.F_URGENT | record.F_ALARM
        return self.log.append(record.K_PASSAGE, 20 if urgent else 0, f, 0,
                               ("pid%05d" % i).encode(), 3900 if urgent else 3660, 3500, 2200, 0)

    def answer(self, req, status, d, sign=True, key=None):
        body = json.dumps(d).encode()
        h = {}
        if sign:
            m = self.mac if key is None else uplink.Hmac(key)
            h["x-gatepass-signature"] = m.hex((b"resp\n", req.sig.encode(), b"\n", body))
        return status, h, body

    def ack(self, req, acked, t=None, version=1, status=200, sign=True):
        st, h, body = self.answer(req, status, {"acked_seq": acked, "time": self.wall.t if t is None else t,
                                                "bundle_version": version, "stored": 0,
                                                "duplicates": 0, "rejected": 0, "lost": 0}, sign)
        return self.up.handle(req, st, h, body, 40, 0)


def seqs_of(body):
    return [record.seq_of(body, o) for o in range(0, len(body), record.SIZE)]


def test_events_request_is_signed_raw_records_with_base():
    r = Rig()
    for i in range(5):
        r.passage(i)
    req = r.up.events_request()
    body = req.body()
    assert len(body) == 5 * 32 and seqs_of(body) == [1, 2, 3, 4, 5]
    assert (req.first, req.last, req.count) == (1, 5, 5)
    h = dict(req.headers)
    assert h["X-Gatepass-Device"] == "gate-1" and h["X-Gatepass-Base"] == "1"
    assert h["X-Gatepass-Time"] == str(NOW) and h["X-Gatepass-Signature"] == req.sig
    assert h["X-Gatepass-Epoch"] == r.log.epoch and len(r.log.epoch) == 16
    # the base and the epoch change what the server holds: both are signed
    assert req.sig == uplink.sign_request(r.mac, "POST", uplink.P_EVENTS, NOW, (body,), r.log.epoch, "1")
    for off in range(0, len(body), 32):
        assert record.valid(body, off)  # records go out exactly as stored, CRC and all


def test_batches_are_bounded_and_oldest_first():
    r = Rig(batch=8)
    for i in range(20):
        r.passage(i)
    req = r.up.events_request()
    assert seqs_of(req.body()) == list(range(1, 9))
    assert r.ack(req, 8) == uplink.OK and r.log.acked == 8
    req = r.up.events_request()
    assert seqs_of(req.body()) == list(range(9, 17))
    assert dict(req.headers)["X-Gatepass-Base"] == "9"


def test_urgent_events_go_first_even_from_behind_a_backlog():
    r = Rig(batch=8)
    for i in range(20):
        r.passage(i)
    fever = r.passage(99, urgent=True)
    assert fever == 21
    req = r.up.events_request()
    got = seqs_of(req.body())
    assert got[0] == 21 and got[1:] == list(range(1, 8)) and len(got) == 8
    # the server acks only the contiguous part: the fever is re-sent later, never lost
    assert r.ack(req, 7) == uplink.OK and r.log.acked == 7
    req = r.up.events_request()
    assert seqs_of(req.body())[0] == 21
    # an urgent record inside the window is not sent twice
    r.log.ack(16)
    req = r.up.events_request()
    assert seqs_of(req.body()) == [17, 18, 19, 20, 21]


def test_cursor_moves_only_on_a_verified_ack():
    r = Rig()
    for i in range(6):
        r.passage(i)
    req = r.up.events_request()
    # unsigned 200, wrong key, tampered body, answer to another request: ignored
    assert r.ack(req, 6, sign=False) == uplink.BAD_MAC
    st, h, body = r.answer(req, 200, {"acked_seq": 6, "time": NOW, "bundle_version": 1}, key=b"x" * 32)
    assert r.up.handle(req, st, h, body) == uplink.BAD_MAC
    st, h, body = r.answer(req, 200, {"acked_seq": 3, "time": NOW, "bundle_version": 1})
    assert r.up.handle(req, st, h, body.replace(b'"acked_seq": 3', b'"acked_seq": 6')) == uplink.BAD_MAC
    other = r.up.bundle_request()
    st, h, body = r.answer(other, 200, {"acked_seq": 6, "time": NOW, "bundle_version": 1})
    assert r.up.handle(req, st, h, body) == uplink.BAD_MAC
    assert r.log.acked == 0 and r.up.server_version == 0 and r.clock.now() == NOW
    # no answer at all
    assert r.up.failed() == uplink.NET and r.log.acked == 0
    # 5xx, even signed
    assert r.ack(req, 6, status=500) == uplink.SERVER and r.log.acked == 0
    # finally a good one
    assert r.ack(req, 6, version=4) == uplink.OK
    assert r.log.acked == 6 and r.up.server_version == 4 and r.log.pending() == 0


def test_ack_never_moves_back_and_an_ack_past_the_log_acknowledges_nothing():
    r = Rig()
    for i in range(4):
        r.passage(i)
    req = r.up.events_request()
    assert r.ack(req, 3) == uplink.OK and r.log.acked == 3
    req = r.up.events_request()
    assert r.ack(req, 1) == uplink.OK and r.log.acked == 3
    # a server talking about another log (a re-flashed device's old seq space): refused
    # whole, not clamped to the last written seq: seq 4 was never uploaded
    assert r.ack(r.up.events_request(), 1000) == uplink.SERVER and r.log.acked == 3
    assert r.up.last_code == "ack_beyond_log" and r.up.stats["ack_refused"] == 1
    assert r.ack(r.up.events_request(), 4) == uplink.OK and r.log.acked == 4


def test_a_heartbeat_answer_beyond_the_log_acknowledges_nothing():
    # finding 1: a re-flashed device's first heartbeat got the old log's acked_seq and
    # acknowledged its whole new backlog without uploading it
    r = Rig()
    for i in range(50):
        r.passage(i)
    req = r.up.status_request(0)
    st, h, body = r.answer(req, 200, {"time": r.wall.t, "bundle_version": 1, "acked_seq": 5000, "peer_seq": 0})
    assert r.up.handle(req, st, h, body, 40, 0) == uplink.OK  # time and version still count
    assert r.log.acked == 0 and r.log.pending() == 50
    assert r.up.last_code == "ack_beyond_log" and r.up.stats["ack_refused"] == 1
    req = r.up.next_request(100)  # and the backlog goes out next, from seq 1
    assert req.kind == uplink.REQ_EVENTS and seqs_of(req.body())[0] == 1


def test_every_request_carries_the_signed_log_epoch():
    r = Rig()
    r.passage(1)
    for req in (r.up.events_request(), r.up.status_request(0), r.up.bundle_request(), r.up.passages_request()):
        h = dict(req.headers)
        assert h["X-Gatepass-Epoch"] == r.log.epoch
        base = h.get("X-Gatepass-Base", "")
        assert (base != "") == (req.kind == uplink.REQ_EVENTS)
        assert req.sig == uplink.sign_request(r.mac, req.method, req.path, NOW, req.parts, r.log.epoch, base)


def test_malformed_signed_answer_is_a_server_error():
    r = Rig()
    r.passage(1)
    req = r.up.events_request()
    for d in ({"acked_seq": "1", "time": NOW, "bundle_version": 1}, {"time": NOW},
              {"acked_seq": True, "time": NOW, "bundle_version": 1}, [1, 2]):
        st, h, body = r.answer(req, 200, d)
        assert r.up.handle(req, st, h, body) == uplink.SERVER
    st, h, _ = r.answer(req, 200, {})
    body = b"not json"
    h["x-gatepass-signature"] = r.mac.hex((b"resp\n", req.sig.encode(), b"\n", body))
    assert r.up.handle(req, st, h, body) == uplink.SERVER
    assert r.log.acked == 0


def test_backoff_doubles_with_jitter_caps_and_resets():
    r = Rig()
    up = r.up
    waits = [up.delay_ms(uplink.NET) for _ in range(9)]
    assert waits == [1000, 2000, 4000, 8000, 16000, 32000, 64000, 64000, 64000]
    assert up.delay_ms(uplink.OK) == 0 and up.delay_ms(uplink.SERVER) == 1000
    # the jitter really draws: half the ceiling plus up to half
    b = uplink.Backoff(1000, 8000, lambda n: 0)
    assert [b.next() for _ in range(5)] == [500, 1000, 2000, 4000, 4000]
    draws = []
    b = uplink.Backoff(1000, 8000, lambda n: (draws.append(n), n // 2)[1])
    b.next()
    b.next()
    assert draws == [501, 1001]


def test_auth_refusal_waits_long_and_keeps_the_events():
    r = Rig()
    for i in range(3):
        r.passage(i)
    req = r.up.events_request()
    st, h, body = r.answer(req, 401, {"detail": "unknown device", "code": "unknown_device"}, sign=False)
    assert r.up.handle(req, st, h, body) == uplink.AUTH
    assert r.up.last_code == "unknown_device"
    d = r.up.delay_ms(uplink.AUTH)
    assert 450000 <= d <= 600000
    st, h, body = r.answer(req, 403, {"detail": "disabled", "code": "device_disabled"})
    assert r.up.handle(req, st, h, body) == uplink.DISABLED
    assert r.log.acked == 0 and r.log.pending() == 3
    # a 401 that claims a time but is not signed by our server: the clock is not touched
    st, h, body = r.answer(req, 401, {"code": "stale_time", "time": NOW + 9999}, sign=False)
    assert r.up.handle(req, st, h, body) == uplink.AUTH and r.clock.now() == NOW


def status_answer(r, req, t, status=200, rtt=0, version=0):
    if status == 200:
        st, h, body = r.answer(req, 200, {"time": t, "bundle_version": version, "acked_seq": r.log.acked})
    else:
        st, h, body = r.answer(req, 401, {"detail": "old", "code": "stale_time", "time": t})
    return r.up.handle(req, st, h, body, rtt, 0)


def test_stale_time_answer_sets_the_clock_only_through_a_fresh_heartbeat():
    r = Rig(t=NOW - 3600, trusted=False)  # device an hour behind, clock never set
    r.passage(1)
    hello = r.up.next_request(0)
    assert hello.kind == uplink.REQ_STATUS  # after boot: a heartbeat first
    nonce = json.loads(hello.body())["nonce"]
    assert len(nonce) == 16 and nonce != json.loads(r.up.status_request().body())["nonce"]
    st, h, body = r.answer(hello, 200, {"time": NOW - 3600, "bundle_version": 0, "acked_seq": 0})
    assert r.up.handle(hello, st, h, body, 10, 0) == uplink.OK
    r.clock = r.up.clock
    # an events request is refused as stale: its answer's time is not taken (an identical
    # request after a reboot to the same wrong time could get an old answer replayed)
    r.wall.t = NOW - 3500
    req = r.up.events_request()
    assert dict(req.headers)["X-Gatepass-Time"] == str(NOW - 3500)
    st, h, body = r.answer(req, 401, {"detail": "old", "code": "stale_time", "time": NOW})
    assert r.up.handle(req, st, h, body, 900) == uplink.STALE
    assert r.up.delay_ms(uplink.STALE) == 0
    assert r.clock.now() == NOW - 3500 and r.log.acked == 0
    q = r.up.next_request(1)
    assert q.kind == uplink.REQ_STATUS  # ask with a nonce first
    assert status_answer(r, q, NOW, 401, 900) == uplink.STALE
    assert r.clock.trusted() and r.clock.now() == NOW
    assert not r.up._sync_needed
    req2 = r.up.events_request()
    assert dict(req2.headers)["X-Gatepass-Time"] == str(NOW) and req2.sig != req.sig
    # the step is logged: K_TIME_SET with aux = server source, pid = <iI step, old time
    ts = [record.decode(x) for x in r.log.records() if x[8] == record.K_TIME_SET]
    assert len(ts) == 2 and ts[-1]["step"] == 3500 and ts[-1]["old_time"] == NOW - 3500
    assert ts[-1]["aux"] == 1 and ts[-1]["time_trusted"]
    assert r.ack(req2, 3) == uplink.OK and r.log.acked == 3  # the time records too
    # a server that keeps answering stale_time does not make us spin
    outs = []
    for _ in range(4):
        q = r.up.status_request()
        outs.append(status_answer(r, q, NOW, 401))
    assert outs == [uplink.STALE, uplink.STALE, uplink.STALE, uplink.SERVER]


def test_time_from_heartbeats_is_half_rtt_corrected_and_small_drift_left_alone():
    r = Rig(t=NOW, trusted=False)
    r.passage(1)
    assert status_answer(r, r.up.status_request(), NOW + 100, rtt=40) == uplink.OK
    assert r.clock.trusted() and r.clock.now() == NOW + 100  # rtt 40 ms rounds to 0
    n_set = len([1 for x in r.log.records() if x[8] == record.K_TIME_SET])
    assert n_set == 1  # the first trusted time after boot is always logged
    # an events answer acks, but its time is not taken
    req = r.up.events_request()
    assert r.ack(req, 2, t=NOW + 5000) == uplink.OK and r.clock.now() == NOW + 100
    assert status_answer(r, r.up.status_request(), NOW + 101, rtt=1000) == uplink.OK
    assert r.clock.now() == NOW + 100  # 1 s off: within tolerance
    assert status_answer(r, r.up.status_request(), NOW + 160, rtt=4000) == uplink.OK
    assert r.clock.now() == NOW + 162  # server time + half the round trip
    steps = [record.decode(x)["step"] for x in r.log.records() if x[8] == record.K_TIME_SET]
    assert steps[n_set:] == [62]  # a real jump is logged
    assert status_answer(r, r.up.status_request(), NOW + 167) == uplink.OK
    assert r.clock.now() == NOW + 167  # a few seconds of drift: corrected quietly
    assert len([1 for x in r.log.records() if x[8] == record.K_TIME_SET]) == n_set + 1


def test_replay_and_too_large_answers():
    r = Rig(batch=8)
    for i in range(8):
        r.passage(i)
    req = r.up.events_request()
    st, h, body = r.answer(req, 401, {"code": "replay", "detail": "signature already used"})
    assert r.up.handle(req, st, h, body) == uplink.REPLAY
    assert r.up.delay_ms(uplink.REPLAY) >= 1000
    st, h, body = r.answer(req, 413, {"code": "too_many", "detail": "at most 4"})
    assert r.up.handle(req, st, h, body) == uplink.REJECTED
    assert r.up.batch == 4 and len(r.up.events_request().body()) == 4 * 32


def test_due_logic_linger_full_batch_urgent_and_status():
    r = Rig(batch=8)
    up = r.up
    assert up.next_request(0).kind == uplink.REQ_STATUS  # first: a heartbeat
    req = up.status_request(0)
    st, h, body = r.answer(req, 200, {"time": NOW, "bundle_version": 0, "acked_seq": 0})
    assert up.handle(req, st, h, body, 10, 0) == uplink.OK
    assert up.next_request(1000) is None
    r.passage(1)
    assert up.next_request(2000) is None  # one event waits for company
    assert 0 < up.idle_ms(2000) <= 5000
    assert up.next_request(7001).kind == uplink.REQ_EVENTS  # lingered long enough
    for i in range(8):
        r.passage(i)
    assert up.next_request(7002).kind == uplink.REQ_EVENTS  # a full batch goes at once
    r.log.ack(r.log.next_seq - 1)
    up.events_due(7003)
    r.passage(50, urgent=True)
    assert up.next_request(7004).kind == uplink.REQ_EVENTS  # urgent: no lingering
    r.log.ack(r.log.next_seq - 1)
    assert up.next_request(30000) is None
    assert up.next_request(60000).kind == uplink.REQ_STATUS
    body = json.loads(up.status_request(60000).body())
    assert body["backlog"] == 0 and body["bundle_version"] == 0 and len(body["nonce"]) == 16


def test_bundle_needed_only_when_newer_and_not_after_a_rejection():
    r = Rig()
    up = r.up
    req = up.status_request(0)
    st, h, body = r.answer(req, 200, {"time": NOW, "bundle_version": 3, "acked_seq": 0})
    assert up.handle(req, st, h, body, 10, 0) == uplink.OK
    nxt = up.next_request(10)
    assert nxt.kind == uplink.REQ_BUNDLE and nxt.method == "GET" and nxt.body() == b""
    up.bundle_result(False, 3, 10, retry_ms=60000)  # fetched, rejected (tampered)
    assert up.next_request(20) is None
    assert up.next_request(60011).kind == uplink.REQ_BUNDLE  # tried again much later
    up.bundle_result(True, 3, 60020)
    assert up.bundle_version == 3 and not up.bundle_due(60030)
    assert up.next_request(60030).kind == uplink.REQ_STATUS  # tell the server at once
    up.server_version = 4
    assert up.bundle_due(60040)
    up.fetch_bundles = False  # no bundle key in the config: never fetched
    assert not up.bundle_due(60050)


def test_batch_never_spans_segments_and_lost_records_keep_their_seq():
    r = Rig(batch=8, seg=5)
    for i in range(12):
        r.passage(i)
    req = r.up.events_request()
    assert seqs_of(req.body()) == [1, 2, 3, 4, 5]
    assert r.ack(req, 5) == uplink.OK
    # rot one stored record: it travels as a K_LOST placeholder with its seq
    import os
    d = r.log.dir
    segs = sorted(n for n in os.listdir(d) if n.endswith(".seg"))
    p = d + "/" + segs[1]
    with open(p, "rb") as f:
        data = bytearray(f.read())
    data[32 + 12] ^= 0xFF
    with open(p, "wb") as f:
        f.write(data)
    body = r.up.events_request().body()
    assert seqs_of(body) == [6, 7, 8, 9, 10]
    assert body[32 + 8] == record.K_LOST and record.valid(body, 32)


def test_wire_bytes_per_event_in_full_batches():
    r = Rig(batch=64, seg=2000)
    for i in range(64):
        r.passage(i)
    req = r.up.events_request()
    head = "POST %s HTTP/1.1\r\nHost: gatepass.example.org\r\n" % req.path
    for k, v in req.headers:
        head += "%s: %s\r\n" % (k, v)
    head += "Content-Length: %d\r\n\r\n" % req.body_len()
    per_event = (len(head) + req.body_len()) / 64
    assert req.count == 64 and per_event <= 40, per_event
    assert struct.unpack_from("<I", req.body(), 0)[0] == 1


def test_heartbeats_do_not_hold_back_lingering_events():
    r = Rig(batch=8)
    up = r.up
    up.status_ms = 2000  # heartbeats more often than the linger time (5 s)
    r.passage(1)
    sent = []
    for now in range(0, 12000, 500):
        req = up.next_request(now)
        if req is None:
            continue
        sent.append((now, req.kind))
        if req.kind == uplink.REQ_EVENTS:
            st, h, body = r.answer(req, 200, {"acked_seq": req.last, "time": NOW, "bundle_version": 0})
        else:
            st, h, body = r.answer(req, 200, {"acked_seq": r.log.acked, "time": NOW, "bundle_version": 0})
        assert up.handle(req, st, h, body, 10, now) == uplink.OK
    kinds = [k for _, k in sent]
    assert uplink.REQ_EVENTS in kinds and kinds.count(uplink.REQ_STATUS) >= 4
    assert [t for t, k in sent if k == uplink.REQ_EVENTS][0] <= 5500
    assert r.log.pending() == 0
