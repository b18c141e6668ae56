"""Device side of the upload protocol, without I/O (docs/uplink-device.md).

Uplink builds signed requests from the event log and judges the server's answers;
app/uplinktask.py moves the bytes (app/httpc.py). Everything here is plain state and
arithmetic, so the same tests run under CPython and MicroPython.

Wire rules (the server, host_tools/gatepass/hmacauth.py, is the reference):
- request headers X-Gatepass-Device, X-Gatepass-Time (unix s, decimal), X-Gatepass-Epoch
  (the log's identity, 16 hex), X-Gatepass-Base (events only) and X-Gatepass-Signature =
  hex HMAC-SHA256(secret, METHOD "\\n" PATH "\\n" TIME "\\n" EPOCH "\\n" BASE "\\n" BODY)
  (BASE empty when the header is absent): every header that changes server state is signed;
- an answer counts only with X-Gatepass-Signature = hex HMAC-SHA256(secret,
  "resp\\n" REQUEST_SIGNATURE "\\n" BODY): the cursor moves, the clock is set and a
  bundle version is believed only from a verified answer;
- POST events: body = raw 32-byte records (urgent first, then oldest first), header
  X-Gatepass-Base = log.base(); answer JSON {"acked_seq", "time", "bundle_version"};
- GET passages?after=N: the other gates' passages (app/peers.py), fetched when a
  heartbeat answer's "peer_seq" is beyond the cursor;
- GET release/<v>/manifest and release/<v>/file/<i>: a firmware release the heartbeat
  answer offered ({"release": {"version": v}}), fetched by app/ota.py (docs/ota.md).
"""
import binascii
import hashlib
import json
import struct

from micropython import const

from app import record
from app.backoff import Backoff  # noqa: F401  (uplink.Backoff: the one backoff, app/backoff.py)

PREFIX = "/api/device/v1"
P_EVENTS = PREFIX + "/events"
P_BUNDLE = PREFIX + "/bundle"
P_STATUS = PREFIX + "/status"
P_PASSAGES = PREFIX + "/passages"
P_RELEASE = PREFIX + "/release"

H_DEVICE = "X-Gatepass-Device"
H_TIME = "X-Gatepass-Time"
H_SIG = "X-Gatepass-Signature"
H_BASE = "X-Gatepass-Base"
H_EPOCH = "X-Gatepass-Epoch"
_H_SIG_LC = "x-gatepass-signature"

REQ_EVENTS = const(1)
REQ_BUNDLE = const(2)
REQ_STATUS = const(3)
REQ_PASSAGES = const(4)
REQ_RELEASE = const(5)  # a release manifest or file (app/ota.py judges the body)

# outcome of one exchange (Uplink.handle / Uplink.failed)
OK = const(0)
NET = const(1)  # no usable answer: connect error, timeout, connection dropped
SERVER = const(2)  # 5xx, or a signed answer we cannot parse
BAD_MAC = const(3)  # answer not signed with our secret: not our server, ignored
STALE = const(4)  # our clock was off: set from the signed answer, retry at once
REPLAY = const(5)  # same signature seen before (same second, same body): retry later
AUTH = const(6)  # 401 unsigned: the server does not know us or our secret
DISABLED = const(7)  # 403 signed: staff disabled this device
REJECTED = const(8)  # other 4xx: the server refused this request
OUTCOME_NAMES = ("ok", "net", "server", "bad_mac", "stale", "replay", "auth", "disabled",
                 "rejected")

_TIME_SRC_SERVER = const(1)  # clock.SRC_SERVER (not imported: clock.py does file I/O)
_URGENT_MAX = const(16)


class Hmac:
    """HMAC-SHA256 (RFC 2104) on hashlib.sha256: MicroPython has no hmac module.

    The key pads are computed once; digest() takes an iterable of byte strings so a
    request body never has to be joined into one buffer.
    """

    def __init__(self, key):
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        ip = bytearray(64)
        op = bytearray(64)
        for i in range(64):
            k = key[i] if i < len(key) else 0
            ip[i] = k ^ 0x36
            op[i] = k ^ 0x5C
        self._ipad = bytes(ip)
        self._opad = bytes(op)

    def digest(self, parts):
        h = hashlib.sha256(self._ipad)
        for p in parts:
            h.update(p)
        o = hashlib.sha256(self._opad)
        o.update(h.digest())
        return o.digest()

    def hex(self, parts):
        """Lower-case hex digest as str."""
        return binascii.hexlify(self.digest(parts)).decode()

    def start(self, first=b""):
        """An incremental HMAC: update() the returned hash with the message as it
        arrives (a body streamed to flash), then finish_hex() it once."""
        h = hashlib.sha256(self._ipad)
        h.update(first)
        return h

    def finish_hex(self, h):
        o = hashlib.sha256(self._opad)
        o.update(h.digest())
        return binascii.hexlify(o.digest()).decode()


def hmac_sha256(key, msg):
    """One-shot HMAC-SHA256 of bytes `msg` (32 bytes)."""
    return Hmac(key).digest((msg,))


def same(a, b):
    """Compare two hex strings without an early exit (case-insensitive)."""
    if a is None or b is None or len(a) != len(b):
        return False
    d = 0
    a = a.lower()
    b = b.lower()
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


def request_head(method, path, t, epoch, base=""):
    """The signed bytes before the body: METHOD \\n PATH \\n TIME \\n EPOCH \\n BASE \\n."""
    return ("%s\n%s\n%d\n%s\n%s\n" % (method, path, t, epoch, base)).encode()


def sign_request(mac, method, path, t, parts=(), epoch="", base=""):
    """Hex request signature; mac: Hmac of the device secret; parts: body pieces;
    epoch: the log's X-Gatepass-Epoch; base: the X-Gatepass-Base text ("" if none)."""
    head = request_head(method, path, t, epoch, base)
    return mac.hex(_chain(head, parts))


def _chain(first, parts):
    yield first
    for p in parts:
        yield p


def verify_response(mac, req_sig, body, sig):
    """True when `sig` (hex, from the answer) signs `body` as the answer to `req_sig`."""
    if not sig:
        return False
    mh = getattr(body, "mac_hex", None)
    if mh is not None:  # a body streamed elsewhere, its HMAC computed on the way (app/ota.py)
        return same(mh(), sig)
    # body: bytes, or a body left on flash (bundle.Download: chunks() reads it back)
    parts = body.chunks() if hasattr(body, "chunks") else (body,)
    want = mac.hex(_chain(b"resp\n" + req_sig.encode() + b"\n", parts))
    return same(want, sig)


class Request:
    """One signed request: method, path, headers [(name, value)], body parts, its
    signature; for event batches the seqs it carries (first and last of the window)."""

    def __init__(self, kind, method, path, headers, parts, sig, first=0, last=0, count=0):
        self.kind = kind
        self.method = method
        self.path = path
        self.headers = headers
        self.parts = parts
        self.sig = sig
        self.first = first
        self.last = last
        self.count = count

    def body_len(self):
        n = 0
        for p in self.parts:
            n += len(p)
        return n

    def body(self):
        """The body as one bytes object (tests, logs)."""
        return b"".join([bytes(p) for p in self.parts])


class Uplink:
    """Upload state of one device.

    device_id: text; secret: bytes; log: app.eventlog.EventLog; clock: app.clock.Clock
    (now(), trusted(), set(unix, source)); bundle_version: version of the applied bundle;
    batch: max records per upload (<= the log's read batch); linger_ms: how long a
    non-urgent event may wait for company (small batches cost header bytes);
    status_ms: heartbeat interval; min_ms/max_ms: failure backoff; auth_ms: wait after
    the server refused our credentials (it may be fixed by staff, so keep trying);
    time_tol_s: clock error tolerated before it is stepped; log_step_s: steps at least
    this large (and the first trusted set after boot) are logged as K_TIME_SET, smaller
    ones are routine drift; resync_s: re-set the clock from the server at least this
    often; rand: see Backoff.

    now_ms arguments are a monotonic millisecond count kept by the caller.
    """

    def __init__(self, device_id, secret, log, clock, bundle_version=0, batch=64,
                 linger_ms=20000, status_ms=60000, min_ms=1000, max_ms=300000,
                 auth_ms=600000, time_tol_s=2, log_step_s=30, resync_s=3600, rand=None,
                 firmware="", health=None, commands=None):
        self.device_id = device_id
        self.mac = Hmac(secret)
        self.log = log
        self.clock = clock
        self.bundle_version = bundle_version  # applied on this device
        self.server_version = 0  # the newest the server announced (verified answers only)
        self.batch = batch
        self.linger_ms = linger_ms
        self.status_ms = status_ms
        self.auth_ms = auth_ms
        self.time_tol_s = time_tol_s
        self.log_step_s = log_step_s
        self.resync_s = resync_s
        self.firmware = firmware
        self.health = health  # callable -> dict merged into each heartbeat (app/health.py)
        self.commands = commands  # app.remote.Remote: heartbeats report its seq, answers feed it
        self.fetch_bundles = True  # False when the config trusts no bundle key
        self.backoff = Backoff(min_ms, max_ms, rand)
        self.rand = self.backoff.rand
        self._pending_since = None
        self._status_at = None  # now_ms of the last verified status answer (None: never)
        self._bundle_bad = 0  # a version we fetched and rejected
        self._bundle_bad_until = 0
        self._stale_run = 0
        self._sync_needed = False
        self._set_at = None  # clock time of the last set from the server
        self.peer_seq = 0  # newest peer passage the server announced (verified answers)
        self.peer_cursor = -1  # where the synced peer passages end; -1: no sync
        self._peer_bad_until = 0
        self.peer_retry_ms = 600000  # after a malformed page: ask again this much later
        self.release_offer = 0  # the firmware release the server offers (verified answers)
        self.last = -1  # last outcome
        self.last_code = ""  # server's error code of the last refusal
        self.stats = {"sent": 0, "acked": 0, "batches": 0, "fail": 0, "bytes_up": 0, "ack_refused": 0}

    # ---- what to do next

    def events_due(self, now_ms):
        """True when an upload should start now: something urgent, a full batch, or
        the oldest pending event has waited linger_ms."""
        log = self.log
        n = log.pending()
        if n <= 0:
            self._pending_since = None
            return False
        if self._pending_since is None:
            self._pending_since = now_ms
        if n >= self.batch or log.has_urgent():
            return True
        return now_ms - self._pending_since >= self.linger_ms

    def bundle_due(self, now_ms):
        if not self.fetch_bundles or self.server_version <= self.bundle_version:
            return False
        if self.server_version == self._bundle_bad and now_ms < self._bundle_bad_until:
            return False
        return True

    def passages_due(self, now_ms):
        """True when the server announced peer passages beyond the synced cursor."""
        return 0 <= self.peer_cursor < self.peer_seq and now_ms >= self._peer_bad_until

    def report_soon(self):
        """Send a heartbeat next (something staff should see changed: a release)."""
        self._status_at = None

    def status_due(self, now_ms):
        return self._status_at is None or now_ms - self._status_at >= self.status_ms

    def next_request(self, now_ms):
        """The request to send now, or None (nothing to do: see idle_ms).

        A heartbeat comes first after boot and after a stale_time answer: time is taken
        only from answers to heartbeats, whose random nonce makes the request (and the
        one answer that verifies against it) new."""
        if self._status_at is None or self._sync_needed:
            return self.status_request(now_ms)
        if self.events_due(now_ms):
            return self.events_request()
        if self.bundle_due(now_ms):
            return self.bundle_request()
        if self.passages_due(now_ms):
            return self.passages_request()
        if self.status_due(now_ms):
            return self.status_request(now_ms)
        return None

    def idle_ms(self, now_ms):
        """How long nothing is due (an upper bound: new events may end it earlier)."""
        w = self.status_ms
        if self._status_at is not None:
            w = self.status_ms - (now_ms - self._status_at)
        if self._pending_since is not None:
            lw = self.linger_ms - (now_ms - self._pending_since)
            if lw < w:
                w = lw
        return w if w > 0 else 0

    # ---- building requests

    def _signed(self, kind, method, path, parts, extra, first=0, last=0, count=0, base=""):
        t = self.clock.now()
        epoch = self.log.epoch
        sig = sign_request(self.mac, method, path, t, parts, epoch, base)
        h = [(H_DEVICE, self.device_id), (H_TIME, str(t)), (H_EPOCH, epoch), (H_SIG, sig)]
        if base:
            h.append((H_BASE, base))
        for e in extra:
            h.append(e)
        return Request(kind, method, path, h, parts, sig, first, last, count)

    def batch_parts(self, n=0):
        """(parts, first, last, count): up to n records, urgent ones (fever, quarantine
        breach, log near full) first, then the oldest from the upload cursor. Raw
        32-byte records; an urgent record already in the window is not sent twice."""
        log = self.log
        lim = n if n > 0 else self.batch
        urgent = log.urgent()
        if len(urgent) > _URGENT_MAX:
            urgent = urgent[:_URGENT_MAX]
        room = lim - len(urgent)
        if room < 1:
            room = 1
        win = log.read(room)
        count = len(win) // record.SIZE
        first = record.seq_of(win, 0) if count else 0
        last = first + count - 1
        extra = []
        for r in urgent:
            s = record.seq_of(r)
            if s < first or s > last:
                extra.append(r)
        parts = []
        if extra:
            parts.append(b"".join(extra))
        if count:
            parts.append(win)
        else:
            last = 0
        return parts, first, last, count + len(extra)

    def events_request(self):
        parts, first, last, count = self.batch_parts()
        return self._signed(REQ_EVENTS, "POST", P_EVENTS, parts,
                            (("Content-Type", "application/octet-stream"),),
                            first, last, count, str(self.log.base()))

    def bundle_request(self):
        return self._signed(REQ_BUNDLE, "GET", P_BUNDLE, (), ())

    def release_request(self, path):
        """GET one piece of a release (path under P_RELEASE, built by app/ota.py)."""
        return self._signed(REQ_RELEASE, "GET", path, (), ())

    def passages_request(self):
        return self._signed(REQ_PASSAGES, "GET", "%s?after=%d" % (P_PASSAGES, self.peer_cursor), (), ())

    def status_request(self, now_ms=0, uptime_s=0):
        log = self.log
        st = log.stats()
        cap = st["capacity"] or 1
        d = {
            "firmware": self.firmware[:32], "bundle_version": self.bundle_version,
            "backlog": log.pending(), "log_used_pct": min(100, log.pending() * 100 // cap),
            "log_near_full": bool(st["near_full"]), "uptime_s": uptime_s or now_ms // 1000,
            # makes two heartbeats within one second differ (no replay rejection)
            "nonce": _nonce(),
        }
        if self.health is not None:
            try:
                d["health"] = self.health()
            except Exception:  # noqa: BLE001 - health is a report, never a reason to stop
                pass
        if self.commands is not None:
            d["cmd_seq"] = self.commands.seq  # the server stops sending what ran
        body = json.dumps(d).encode()
        return self._signed(REQ_STATUS, "POST", P_STATUS, (body,),
                            (("Content-Type", "application/json"),))

    # ---- answers

    def handle(self, req, status, headers, body, rtt_ms=0, now_ms=0):
        """Judge one answer. headers: dict with lower-case names. Moves the cursor,
        sets the clock and learns the bundle version only from a verified answer.
        Returns an outcome code."""
        signed = verify_response(self.mac, req.sig, body, headers.get(_H_SIG_LC))
        self.last_code = ""
        if 200 <= status < 300:
            if not signed:
                return self._out(BAD_MAC)
            if req.kind == REQ_BUNDLE or req.kind == REQ_PASSAGES or req.kind == REQ_RELEASE:
                return self._out(OK)  # the caller checks the body (bundle ES256, page layout)
            try:
                d = json.loads(body)
                acked = d.get("acked_seq")
                t = d.get("time")
                v = d.get("bundle_version")
            except (ValueError, AttributeError):
                return self._out(SERVER)
            if not _is_int(t) or not _is_int(v) or not _is_int(acked):
                return self._out(SERVER)
            if req.kind == REQ_STATUS:
                self._sync_time(t, rtt_ms)
                self._sync_needed = False
                ps = d.get("peer_seq")  # absent from servers without the passages endpoint
                if _is_int(ps):
                    self.peer_seq = ps
                    if ps < self.peer_cursor:
                        # the server's ids went back (database restored or reset): start
                        # over, or nothing would arrive until new ids pass the old cursor
                        self.peer_cursor = 0
                rel = d.get("release")  # {"version": v} for a device in a rollout
                rv = rel.get("version") if isinstance(rel, dict) else None
                self.release_offer = rv if _is_int(rv) else 0
            self.server_version = v
            before = self.log.acked
            try:
                self.log.ack(acked)
            except ValueError:
                # the server claims records this log never wrote: it is talking about
                # another log. Nothing is acknowledged, everything is kept; an upload
                # answer is a server error (back off), a heartbeat's time, bundle version
                # and commands still count
                self.stats["ack_refused"] += 1
                self.last_code = "ack_beyond_log"
                if req.kind != REQ_STATUS:
                    return self._out(SERVER)
            if req.kind == REQ_EVENTS:
                self.stats["batches"] += 1
                self.stats["sent"] += req.count
                self.stats["bytes_up"] += req.body_len()
                self._pending_since = None  # what is left starts a new wait
            self.stats["acked"] += self.log.acked - before
            if req.kind == REQ_STATUS:
                self._status_at = now_ms
                cm = self.commands
                cmds = d.get("commands")
                if cm is not None and isinstance(cmds, list) and cmds:
                    seq0 = cm.seq
                    try:
                        cm.handle(cmds)  # after the clock was set from this very answer
                    except Exception:  # noqa: BLE001 - a command bug must not stop uploads
                        pass
                    if cm.seq != seq0:
                        # report the new seq with the next request, so the server stops
                        # sending it; a refused command leaves the seq where it was and
                        # the server sends it again until it expires: asking again at
                        # once would be a heartbeat storm (one refusal record each)
                        self._status_at = None
            return self._out(OK)
        code = ""
        t = None
        if signed:
            try:
                d = json.loads(body)
                code = d.get("code") or ""
                t = d.get("time")
            except (ValueError, AttributeError):
                pass
        else:
            try:
                code = json.loads(body).get("code") or ""
            except (ValueError, AttributeError):
                pass
        if status >= 500:
            self.last_code = code
            return self._out(SERVER)
        self.last_code = code
        if status == 401 and signed and code == "stale_time" and _is_int(t):
            self._stale_run += 1
            if req.kind == REQ_STATUS:
                # bound to a request with a fresh nonce: an answer nobody saw before
                self._sync_time(t, rtt_ms)
                self._sync_needed = False
            else:
                self._sync_needed = True  # ask with a heartbeat, then retry
            return self._out(STALE if self._stale_run <= 3 else SERVER)
        if status == 401 and signed and code == "replay":
            return self._out(REPLAY)
        if status == 403 and signed:
            return self._out(DISABLED)
        if status == 401:
            return self._out(AUTH)
        if status == 413 and self.batch > 1:
            self.batch = self.batch // 2  # the server takes fewer records per batch
        return self._out(REJECTED)

    def failed(self):
        """No answer (connect error, timeout, dropped connection)."""
        return self._out(NET)

    def _out(self, outcome):
        self.last = outcome
        if outcome != STALE:
            self._stale_run = 0
        if outcome != OK:
            self.stats["fail"] += 1
        return outcome

    def delay_ms(self, outcome):
        """Wait before the next attempt after `outcome` (ms)."""
        if outcome == OK or outcome == STALE:
            self.backoff.reset()
            return 0
        if outcome == REPLAY:
            return 1100  # a new second gives a new signature
        if outcome == AUTH or outcome == DISABLED:
            d = self.auth_ms
            self.backoff.n += 1
            return d - d // 4 + self.rand(d // 4 + 1)
        return self.backoff.next()

    # ---- bundles

    def bundle_result(self, applied, version, now_ms, retry_ms=3600000):
        """After a fetched bundle was applied (or rejected: do not fetch that version
        again for retry_ms unless the server moves on)."""
        if applied:
            self.bundle_version = version
            self._status_at = None  # tell the server soon
        else:
            self._bundle_bad = self.server_version
            self._bundle_bad_until = now_ms + retry_ms

    # ---- peer passages

    def passages_result(self, count, cursor, now_ms, retry_ms=-1):
        """After a fetched page was applied (count >= 0; cursor: where it ended) or
        refused as malformed (count < 0: wait retry_ms, default peer_retry_ms, before
        asking again)."""
        if count < 0:
            self._peer_bad_until = now_ms + (retry_ms if retry_ms >= 0 else self.peer_retry_ms)
        else:
            self.peer_cursor = cursor

    # ---- time

    def _sync_time(self, server_t, rtt_ms):
        c = self.clock
        t = server_t + (rtt_ms + 500) // 2000  # half the round trip, rounded to seconds
        cur = c.now()
        if c.trusted() and abs(cur - t) < self.time_tol_s and self._set_at is not None \
                and t - self._set_at < self.resync_s:
            return None
        first = not c.trusted()
        step = c.set(t, _TIME_SRC_SERVER)
        self._set_at = t
        if step is not None and (first or step >= self.log_step_s or -step >= self.log_step_s):
            pid = struct.pack("<iI", _clamp_i32(step), (t - step) & 0xFFFFFFFF)
            self.log.append(record.K_TIME_SET, 0, 0, record.NO_ROLE, pid, record.NO_TEMP,
                            record.NO_TEMP, record.NO_TEMP, _TIME_SRC_SERVER)
        return step


def _nonce():
    """16 hex digits: from the hardware RNG where the port has os.urandom (the ESP32
    has), else from `random` (never the injected jitter source: tests fix that one)."""
    import os

    u = getattr(os, "urandom", None)
    if u is not None:
        return binascii.hexlify(u(8)).decode()
    import random

    return "%08x%08x" % (random.getrandbits(32), random.getrandbits(32))


def _is_int(v):
    return isinstance(v, int) and v is not True and v is not False and v >= 0


def _clamp_i32(v):
    if v > 0x7FFFFFFF:
        return 0x7FFFFFFF
    if v < -0x80000000:
        return -0x80000000
    return v
