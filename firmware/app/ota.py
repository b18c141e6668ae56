"""Over-the-air update, device side of the download: what to fetch next, how to judge it,
when to switch (docs/ota.md). No network I/O here: app/uplinktask.py sends the requests
this module asks for (signed by app/uplink.py) and hands the answers back.

    u = ota.Updater(root, firmware_keys, mpy, plan["ota"], log)   # main.py
    u.offer(v)                      # a verified heartbeat answer offered release v
    if u.due(now_ms): path = u.next_path()         # manifest first, then file by file
    u.on_manifest(bytes, now_ms) / sink = u.file_sink(mac, req_sig); u.on_file(ok, sink, now_ms)
    u.reset_wanted                  # staged and marked: main.py resets at the next idle moment

The manifest is checked with app/release.verify (firmware keys, monotonic version, .mpy
version), its files must fit the flash plan's OTA budget, then every file is streamed
into release.Stager (bounded RAM: the client's 512-byte reads go straight to flash,
hashed on the way) in the otaboot slot that is not in use. A file already staged with
the right size and sha256 (an earlier attempt) is not fetched again, so a download cut
by a reset, a network failure or a refused file resumes where it stopped. A refused
manifest or file marks the release failed (K_RELEASE, health "failed") and it is tried
again after a backoff; nothing switches until Stager.complete() has re-read every file
and written the otaboot trial marker.

K_RELEASE records (aux = event | detail << 8, pid = <II release version, running version):
staged, trial (the new set booted), confirmed (healthy: it is the active set now),
rolled back (otaboot dropped it), refused (detail: R_MANIFEST, R_FILE, R_ROOM).
"""
import struct

from micropython import const

from app import record, release
from app.backoff import Backoff

EV_STAGED = const(1)
EV_TRIAL = const(2)
EV_CONFIRMED = const(3)
EV_ROLLED_BACK = const(4)
EV_REFUSED = const(5)
EVENT_NAMES = ("", "staged", "trial", "confirmed", "rolled_back", "refused")
R_MANIFEST = const(1)  # bad signature, unknown key, not newer, other .mpy version, bad layout
R_FILE = const(2)  # a file not matching its manifest size or sha256
R_ROOM = const(3)  # larger than the flash plan's OTA budget

DOWNLOADING = "downloading"
FAILED = "failed"
STAGED = "staged"
_REPORTED = "ota.rep"  # in the data directory: the last boot-path state logged
_HEAD = const(256)  # bytes of an answer kept in RAM (an error answer's JSON)
_P_RELEASE = "/api/device/v1/release"  # uplink.P_RELEASE (not imported: ota.py loads alone)


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def missing(m, need=None):
    """The first module of `need` (names like "app.gate"; None: every app.* and
    drivers.* module loaded now) that release `m` does not carry, or None."""
    if need is None:
        import sys

        need = [n for n in sys.modules if n.startswith("app.") or n.startswith("drivers.")]
    have = {}
    for p, _n, _h in m.files:
        have[p] = 1
    for n in need:
        base = n.replace(".", "/")
        if base + ".mpy" not in have and base + ".py" not in have:
            return base
    return None


class FileSink:
    """Where the HTTP client writes a release file's body: the stager (flash), the
    answer's HMAC computed on the way, the first bytes kept for an error answer."""

    def __init__(self, stager, i, mac, req_sig):
        self.st = stager
        self.mac = mac
        self._h = mac.start(b"resp\n" + req_sig.encode() + b"\n")
        self.head = bytearray()
        self.n = 0
        self.err = None
        stager.begin(i)

    def write(self, b):
        h = self._h
        if h is None:
            raise ValueError("body after its HMAC was taken")
        h.update(b)
        k = len(self.head)
        if k < _HEAD:
            self.head.extend(b[:_HEAD - k])
        self.n += len(b)
        if self.err is None:
            try:
                self.st.write(b)
            except release.ReleaseError as e:  # longer than its manifest size: keep reading
                self.err = e

    def close(self):
        pass  # the stager's file is closed by finish() or abort()

    def mac_hex(self):
        h = self._h
        self._h = None
        return self.mac.finish_hex(h) if h is not None else ""

    def small(self):
        return bytes(self.head)


class Updater:
    """OTA download state. root: the filesystem root ("/"); keys: {kid: pub65} (config
    firmware_keys; empty: no update is ever fetched); mpy: this runtime's .mpy version;
    budget: bytes the flash plan keeps for staging; log: app.eventlog.EventLog (or None);
    data: the data directory (the boot-path state already logged); retry_ms: first wait
    after a refused release (doubling up to max_ms)."""

    def __init__(self, root, keys, mpy, budget, log=None, data=None, retry_ms=60000,
                 max_ms=21600000, rand=None, need=None):
        import otaboot

        # modules a release must carry (None: every app/drivers module loaded now):
        # MicroPython binds a package to one directory, so a slot is a complete set
        self.need = need

        self.root = root
        self.keys = keys or {}
        self.mpy = mpy
        self.budget = budget
        self.log = log
        self.data = data
        self.backoff = Backoff(retry_ms, max_ms, rand)
        s = otaboot.load(root)
        self.boot_state = s.get("state", "usb") or "usb"
        self.running = _int(s.get("trial_version") if self.boot_state == "trial" else s.get("version"))
        self.failed = _int(s.get("failed"))  # a version otaboot rolled back: never again
        self.offered = 0
        self.state = ""  # "" | DOWNLOADING | FAILED | STAGED (this boot's download)
        self.m = None
        self.st = None
        self.slot = None
        self.i = 0
        self.retry_at = 0
        self.reset_wanted = False
        self.error = ""
        self.refused = 0
        self.tier = ""  # the board profile's "firmware" ("mpy" | "frozen"), for the server
        if self.boot_state == STAGED:
            # marked, yet this boot did not start the trial (boot.py did not run or
            # failed): nothing to fetch; no reset asked either (it could loop)
            self.state = STAGED
        self._report_boot(s)

    # ---- what to report

    def release_state(self):
        """health.release: this boot's download state, else the boot path's."""
        return self.state or self.boot_state

    def progress(self):
        """(files staged, files in the release) of the download in progress."""
        return (self.i, len(self.m.files)) if self.m is not None else (0, 0)

    def _record(self, event, detail, version):
        if self.log is None:
            return
        try:
            self.log.append(record.K_RELEASE, 0, record.F_URGENT if event in (EV_ROLLED_BACK, EV_REFUSED) else 0,
                            record.NO_ROLE, struct.pack("<II", version & 0xFFFFFFFF, self.running),
                            record.NO_TEMP, record.NO_TEMP, record.NO_TEMP, event | detail << 8)
        except Exception as e:  # noqa: BLE001 - a report never stops an update
            print("gatepass: ota record (%r)" % e)

    def _report_boot(self, s):
        """Log what the boot path did since the last boot, once: a trial started, a
        release confirmed, a release rolled back."""
        st = self.boot_state
        if st == "trial":
            ev, v = EV_TRIAL, _int(s.get("trial_version"))
        elif st == "confirmed":
            ev, v = EV_CONFIRMED, _int(s.get("version"))
        elif st == "rolled_back":
            ev, v = EV_ROLLED_BACK, self.failed
        else:
            return
        key = "%s %d" % (st, v)
        if self.data is None:
            return self._record(ev, 0, v)
        p = self.data + "/" + _REPORTED
        try:
            with open(p) as f:
                if f.read() == key:
                    return
        except OSError:
            pass
        self._record(ev, 0, v)
        from app.fsutil import write_atomic

        write_atomic(p, (key.encode(),))

    def confirmed(self):
        """main.py confirmed the trial set (otaboot.confirm): it runs as the active set."""
        import otaboot

        s = otaboot.load(self.root)
        self.boot_state = s.get("state", "confirmed")
        self.running = _int(s.get("version"))
        self._report_boot(s)

    # ---- what to fetch

    def offer(self, v):
        """The release a verified heartbeat answer offered (0: none)."""
        self.offered = _int(v)

    def due(self, now_ms):
        """True when a release piece should be fetched now."""
        if not self.keys or self.state == STAGED or self.boot_state == "trial":
            return False  # a trial must be confirmed (or rolled back) first
        v = self.offered
        if v <= self.running or v == self.failed:
            return False
        return now_ms >= self.retry_at

    def next_path(self):
        """The path of the next request: the manifest of the offered release, then its
        files one by one."""
        m = self.m
        if m is None or m.version != self.offered:
            self._drop()
            return "%s/%d/manifest" % (_P_RELEASE, self.offered)
        self.state = DOWNLOADING
        return "%s/%d/file/%d" % (_P_RELEASE, m.version, self.i)

    def want_file(self):
        """True when the next request is a file (its body goes to file_sink())."""
        return self.m is not None and self.m.version == self.offered

    def _staging(self):
        """(manifest, stager) of the release being staged: on_manifest() sets both before
        any file step runs (the task asks want_file() first); None here is a bug."""
        m = self.m
        st = self.st
        if m is None or st is None:
            raise ValueError("no release being staged")
        return m, st

    def max_body(self):
        """Largest answer accepted for the next request (bytes)."""
        m = self.m
        if m is not None and m.version == self.offered:  # want_file()
            n = m.files[self.i][1]
            return n if n > 1024 else 1024
        return 8192  # a manifest: 64 files of ~90 bytes plus the signature

    def _drop(self):
        st = self.st
        if st is not None:
            st.abort()
        self.m = None
        self.st = None
        self.i = 0

    # ---- answers

    def failed_exchange(self):
        """No usable answer (network, 5xx, 404): the uplink backs off; a file that was
        being written is dropped (its .part), the staged ones stay."""
        if self.st is not None:
            self.st.abort()

    def on_manifest(self, data, now_ms):
        """A signed manifest arrived: verify it and start staging. True when accepted."""
        import gc

        gc.collect()  # the ES256 check's big integers want room: start from a compact heap
        try:
            m = release.verify(data, self.keys, self.running, self.mpy)
            if m.version != self.offered:
                raise release.ReleaseError("manifest of release %d, %d offered" % (m.version, self.offered))
        except release.ReleaseError as e:
            return self._refuse(e, R_MANIFEST, self.offered, now_ms)
        lack = missing(m, self.need)
        if lack:
            return self._refuse("release lacks %s (a release is the complete app set)" % lack,
                                R_MANIFEST, m.version, now_ms)
        if m.total() > self.budget:
            return self._refuse("release needs %d bytes, %d kept for updates" % (m.total(), self.budget),
                                R_ROOM, m.version, now_ms)
        import otaboot

        self.slot = otaboot.free_slot(self.root)
        self.st = release.Stager(self.root, m, self.slot)
        self.m = m
        self._clean()
        self.i = 0
        self.state = DOWNLOADING
        self._skip_staged()
        return self._maybe_complete(now_ms)

    def file_sink(self, mac, req_sig):
        """The sink for the next file's answer body."""
        return FileSink(self._staging()[1], self.i, mac, req_sig)

    def on_file(self, sink, now_ms):
        """The current file's answer arrived whole and signed (2xx): judge it."""
        m, st = self._staging()
        path = m.files[self.i][0]
        if sink.err is not None:
            st.abort()
            return self._refuse(sink.err, R_FILE, m.version, now_ms)
        try:
            st.finish()
        except release.ReleaseError as e:
            return self._refuse(e, R_FILE, m.version, now_ms)
        print("gatepass: release %d: %s staged (%d/%d)" % (m.version, path, self.i + 1, len(m.files)))
        self.i += 1
        self._skip_staged()
        return self._maybe_complete(now_ms)

    def _skip_staged(self):
        m, st = self._staging()
        d = st.dir + "/"
        while self.i < len(m.files):
            p, size, sha = m.files[self.i]
            if not release.file_ok(d + p, size, sha):
                return
            self.i += 1

    def _maybe_complete(self, now_ms):
        m, st = self._staging()
        if self.i < len(m.files):
            return True
        try:
            st.complete()  # every file re-read from flash, then the otaboot marker
        except release.ReleaseError as e:
            self.i = 0
            return self._refuse(e, R_FILE, m.version, now_ms)
        self.state = STAGED
        self.reset_wanted = True
        self.backoff.reset()
        self._record(EV_STAGED, 0, m.version)
        print("gatepass: release %d staged in slot %s: switching at the next idle moment" % (m.version, self.slot))
        return True

    def _refuse(self, e, detail, version, now_ms):
        self.state = FAILED
        self.refused += 1
        try:
            self.error = str(e)[:64]
        except Exception:  # noqa: BLE001
            self.error = "refused"
        self.retry_at = now_ms + self.backoff.next()
        if detail == R_MANIFEST:
            self._drop()
        self._record(EV_REFUSED, detail, version)
        print("gatepass: release %d refused: %s" % (version, self.error))
        return False

    def _clean(self):
        """Remove from the slot what the manifest does not list (an older release's
        files, .part leftovers): only the new set's modules may shadow the USB set."""
        import os

        m, st = self._staging()
        keep = {}
        for p, _n, _h in m.files:
            keep[p] = 1
        for sub in ("app", "drivers"):
            d = st.dir + "/" + sub
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for n in names:
                if sub + "/" + n not in keep:
                    try:
                        os.remove(d + "/" + n)
                    except OSError:
                        pass
