"""Signed community bundles on the device: verify, store atomically, apply — streamed.

A bundle (host_tools/gatepass/issuing/bundles.py builds it) is a tagged COSE_Sign1,
ES256, signed with a community bundle key the device config trusts (config.bundle_keys),
over a CBOR map:

    1 version (uint, only a greater one is applied)   2 issued_at (unix s)
    3 community (text, must be this device's)          4 mode (0..2)
    5 threshold (centi-degrees C)                      6 revoked: bstr of sorted 8-byte ids
    7 quarantined: [[building, entrance, room], ...] sorted, unique
    8 settings: {name: value}                          9 issuer keys: [[kid, pub65], ...]
   10 isolated: bstr of 12-byte entries, pass id (8) + end (u32 big-endian unix s),
      sorted by pass id, one per pass, end > 0 (home isolation; absent = nobody)

Floats in settings come as RFC 8949 decimal fractions (tag 4 [exponent, mantissa]).

Streamed: a bundle is never held in RAM. It arrives in a file (uplinktask writes the
HTTP body to `bundle.dl` in chunks); the Sig_structure is hashed piece by piece from
the file and p256 verifies the digest; the payload is walked item by item (heads
only: the revoked ids and the isolation entries are byte ranges of the file, the
quarantined units are read one by one), and the lists are copied to their sorted flash files in chunks. RAM does not
depend on list size; the lists must come sorted and duplicate-free (the server's
canonical form), which is checked while reading. Only the settings map and the issuer
keys are decoded whole (each bounded by _SMALL bytes).

Files in `dirpath` (Store): `bundle.cbor` (the signed bytes as received, the commit
point), `bundle.new` (verified, being applied: a power cut between it and the rename is
rolled forward at the next boot), `bundle.ver` (the highest version ever applied: a
damaged bundle.cbor cannot let an older bundle back in), and the lists app/lists.py reads
(revoked.bin, quarantine.bin, isolation.bin), each replaced by temp file + rename. At boot the stored
bundle is verified again (signature included, streamed); a bad one is ignored and
logged, and the config's settings stay in force.
"""
import hashlib
import os

from micropython import const

from app import cbor, cose, lists, p256, reasons, record
from app import settings as _settings
from app.fsutil import write_atomic

MAX_BYTES = const(1048576)  # largest bundle accepted (Store.max_bytes: what flash allows)
CURRENT = "bundle.cbor"
NEW = "bundle.new"
DOWNLOAD = "bundle.dl"
FLOOR = "bundle.ver"
_CHUNK = const(512)  # file reads and writes while streaming
_SMALL = const(4096)  # settings map, issuer keys: decoded whole, at most this big

B_VERSION = const(1)
B_ISSUED = const(2)
B_COMMUNITY = const(3)
B_MODE = const(4)
B_THRESHOLD = const(5)
B_REVOKED = const(6)
B_QUARANTINED = const(7)
B_SETTINGS = const(8)
B_KEYS = const(9)
B_ISOLATED = const(10)
_TAG_DECIMAL = const(4)
_PID = const(8)
_ISO = const(12)  # lists.W_ISO

# result codes (reason field of the K_BUNDLE record; 0 = applied)
APPLIED = const(0)
MALFORMED = reasons.MALFORMED
UNKNOWN_KID = reasons.UNKNOWN_KID
BAD_SIGNATURE = reasons.BAD_SIGNATURE
WRONG_COMMUNITY = reasons.WRONG_COMMUNITY
OLD_VERSION = reasons.STALE_BUNDLE  # not newer than the applied one: a replay or a rollback

_MIN_ARG = (24, 0x100, 0x10000, 0x100000000)


class BundleError(ValueError):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def _bad(msg):
    return BundleError(MALFORMED, msg)


def _uint(v, hi=0xFFFFFFFF):
    return type(v) is int and 0 <= v <= hi


def _number(v):
    """A setting value from CBOR: tag 4 decimal fraction -> float; lists recursively."""
    if isinstance(v, cbor.Tag):
        if v.tag != _TAG_DECIMAL or type(v.value) is not list or len(v.value) != 2:
            raise _bad("setting: unsupported tag")
        e = v.value[0]
        m = v.value[1]
        if type(e) is not int or type(m) is not int or not -18 <= e <= 18:
            raise _bad("setting: bad decimal")
        if e >= 0:
            return float(m * 10 ** e)
        return m / (10 ** -e)
    if type(v) is list:
        return [_number(x) for x in v]
    return v


class _In:
    """Sequential CBOR heads from an open file (no item is materialised unless asked)."""

    def __init__(self, f, end):
        self.f = f
        self.pos = 0
        self.end = end
        self.b = bytearray(8)
        self.mv = memoryview(self.b)

    def seek(self, pos):
        if pos > self.end:
            raise _bad("truncated")
        self.f.seek(pos)
        self.pos = pos

    def take(self, n):
        """n bytes into the scratch buffer (n <= 8)."""
        if n > self.end - self.pos:
            raise _bad("truncated")
        mv = self.mv[:n]
        if self.f.readinto(mv) != n:
            raise _bad("truncated")
        self.pos += n
        return mv

    def read(self, n):
        if n > self.end - self.pos:
            raise _bad("truncated")
        d = self.f.read(n)
        if len(d) != n:
            raise _bad("truncated")
        self.pos += n
        return d

    def skip(self, n):
        self.seek(self.pos + n)

    def head(self):
        """(major type, argument) of the next item; simple values are (7, 20..22)."""
        ib = self.take(1)[0]
        major = ib >> 5
        ai = ib & 31
        if major == 7:
            if 20 <= ai <= 22:
                return 7, ai
            raise _bad("unsupported simple or float")
        if ai < 24:
            return major, ai
        if ai > 27:
            raise _bad("indefinite length")
        n = 1 << (ai - 24)
        v = 0
        for x in self.take(n):
            v = (v << 8) | x
        if v < _MIN_ARG[ai - 24]:
            raise _bad("not shortest")
        return major, v

    def uint(self, hi):
        major, v = self.head()
        if major != 0 or v > hi:
            raise _bad("not a uint")
        return v

    def skip_item(self, depth=0):
        major, n = self.head()
        if major == 2 or major == 3:
            self.skip(n)
        elif major == 4 or major == 5 or major == 6:
            if depth >= 6:
                raise _bad("too deep")
            if major == 5:
                n *= 2
            elif major == 6:
                n = 1
            if n > self.end - self.pos:
                raise _bad("truncated")
            for _ in range(n):
                self.skip_item(depth + 1)

    def small(self):
        """The next item decoded whole (at most _SMALL bytes)."""
        start = self.pos
        self.skip_item()
        n = self.pos - start
        if n > _SMALL:
            raise _bad("item too large")
        self.seek(start)
        try:
            return cbor.loads(self.read(n), 6, n + 1)
        except ValueError as e:
            raise _bad("payload: " + str(e))


class Bundle:
    """A checked bundle, its lists left in the file: version, issued_at, community, mode,
    threshold_cc, settings (dict without mode/threshold), keys (list of (kid, pub65)),
    the revoked ids as a byte range of the source (rev_off, rev_len) and the quarantined
    units as a CBOR array there (q_off, q_count). `src` is the file path (or the bytes
    for decode()). Read the lists with revoked_ids() / units()."""

    def __init__(self, src):
        self.src = src
        self.version = 0
        self.issued_at = 0
        self.community = ""
        self.mode = 0
        self.threshold_cc = 0
        self.rev_off = 0
        self.rev_len = 0
        self.q_off = 0
        self.q_count = 0
        self.q_end = 0
        self.iso_off = 0
        self.iso_len = 0
        self.settings = {}
        self.keys = []

    def open(self):
        if type(self.src) is str:
            return open(self.src, "rb")
        return _Mem(self.src)

    def settings_map(self):
        """The full settings map for app.settings.Settings (mode and threshold from
        their own keys). Names this firmware does not know are left out, so a newer
        server cannot lock an older gate out of its revocations."""
        d = {}
        for k in self.settings:
            if k in _settings.DEFAULTS and k != "mode" and k != "threshold":
                d[k] = self.settings[k]
        d["mode"] = self.mode
        d["threshold"] = self.threshold_cc / 100
        return d

    def make_settings(self):
        """app.settings.Settings from this bundle (ValueError when a value is invalid)."""
        return _settings.Settings(self.settings_map())

    def issuer_keys(self):
        """{kid: pub65} of the pass issuers to trust (empty: keep the configured ones)."""
        d = {}
        for kid, pub in self.keys:
            d[kid] = pub
        return d

    def revoked_count(self):
        return self.rev_len // _PID

    def revoked_chunks(self, f, buf):
        """Yield memoryviews of buf filled with the revoked ids, chunk by chunk."""
        return _range_chunks(f, buf, self.rev_off, self.rev_len)

    def isolated_count(self):
        return self.iso_len // _ISO

    def isolated_chunks(self, f, buf):
        """Yield memoryviews of buf filled with the isolation entries (whole entries)."""
        return _range_chunks(f, buf, self.iso_off, self.iso_len, len(buf) - len(buf) % _ISO)

    def isolated(self):
        """[(pid, end)] (tests and tools only: holds the list)."""
        out = []
        with self.open() as f:
            for c in self.isolated_chunks(f, bytearray(_CHUNK)):
                for i in range(0, len(c), _ISO):
                    e = bytes(c[i:i + _ISO])
                    out.append((e[:_PID], int.from_bytes(e[_PID:], "big")))
        return out

    def revoked_ids(self):
        """The revoked ids as one bytes (tests and tools only: holds the list)."""
        out = bytearray()
        with self.open() as f:
            for c in self.revoked_chunks(f, bytearray(_CHUNK)):
                out.extend(c)
        return bytes(out)

    def units(self, f=None):
        """Yield the quarantined units (b, e, r), in order (from the open file f)."""
        own = f is None
        if own:
            f = self.open()
        try:
            inp = _In(f, self.q_end)
            inp.seek(self.q_off)
            for _ in range(self.q_count):
                yield _unit(inp)
        finally:
            if own:
                f.close()

    @property
    def quarantined(self):
        return list(self.units())


def _range_chunks(f, buf, off, length, step=0):
    """Yield memoryviews of buf holding bytes off..off+length of f, `step` (default
    len(buf)) bytes at a time."""
    f.seek(off)
    left = length
    mv = memoryview(buf)
    step = step or len(buf)
    while left:
        n = step if left > step else left
        if f.readinto(mv[:n]) != n:
            raise _bad("truncated")
        left -= n
        yield mv[:n]


def _unit(inp):
    major, n = inp.head()
    if major != 4 or n != 3:
        raise _bad("quarantined unit")
    b = inp.uint(0xFFFF)
    e = inp.uint(0xFFFF)
    r = inp.uint(0xFFFF)
    if b == 0:
        raise _bad("quarantined unit")
    return b, e, r


def _envelope(inp):
    """Walk the COSE_Sign1 envelope: (kid, protected, payload offset, length, signature)."""
    major, v = inp.head()
    if major != 6 or v != cose.TAG_SIGN1:
        raise _bad("envelope: not tag 18")
    major, v = inp.head()
    if major != 4 or v != 4:
        raise _bad("envelope: not a 4-array")
    major, n = inp.head()
    if major != 2 or n > 64:
        raise _bad("envelope: protected header")
    protected = inp.read(n)
    try:
        kid = cose.check_protected(protected)[1]
    except ValueError as e:
        raise _bad("envelope: " + str(e))
    major, v = inp.head()
    if major != 5 or v != 0:
        raise _bad("envelope: unprotected not empty")
    major, plen = inp.head()
    if major != 2:
        raise _bad("envelope: payload not bstr")
    poff = inp.pos
    inp.skip(plen)
    major, n = inp.head()
    if major != 2 or n != cose.SIG_LEN:
        raise _bad("envelope: signature length")
    sig = inp.read(n)
    if inp.pos != inp.end:
        raise _bad("envelope: trailing bytes")
    return kid, protected, poff, plen, sig


def _digest(f, protected, poff, plen, buf):
    """SHA-256 of the Sig_structure, the payload read from f in chunks."""
    h = hashlib.sha256(cose.sig_structure_head(protected, plen))
    f.seek(poff)
    mv = memoryview(buf)
    left = plen
    while left:
        n = len(buf) if left > len(buf) else left
        if f.readinto(mv[:n]) != n:
            raise _bad("truncated")
        h.update(mv[:n])
        left -= n
    return h.digest()


def _payload(inp, b, poff, plen):
    """Walk the payload map into Bundle b (heads only for the lists)."""
    inp.seek(poff)
    end = poff + plen
    major, n = inp.head()
    if major != 5 or n > 32:
        raise _bad("payload not a map")
    seen = 0
    for _ in range(n):
        k = inp.uint(0xFFFF)
        if k < 32:
            if seen & (1 << k):
                raise _bad("payload: duplicate key")
            seen |= 1 << k
        if k == B_VERSION:
            b.version = inp.uint(0xFFFFFFFF)
        elif k == B_ISSUED:
            b.issued_at = inp.uint(0xFFFFFFFF)
        elif k == B_COMMUNITY:
            major, m = inp.head()
            if major != 3 or not 0 < m <= 64:
                raise _bad("community")
            try:
                b.community = str(inp.read(m), "utf-8")
            except UnicodeError:
                raise _bad("community")
        elif k == B_MODE:
            b.mode = inp.uint(2)
        elif k == B_THRESHOLD:
            b.threshold_cc = inp.uint(0xFFFF)
        elif k == B_REVOKED:
            major, m = inp.head()
            if major != 2 or m % _PID:
                raise _bad("revoked")
            b.rev_off = inp.pos
            b.rev_len = m
            inp.skip(m)
        elif k == B_QUARANTINED:
            major, m = inp.head()
            if major != 4:
                raise _bad("quarantined")
            b.q_off = inp.pos
            b.q_count = m
            for _ in range(m):  # checked later, unit by unit (_check_lists)
                inp.skip_item()
        elif k == B_ISOLATED:
            major, m = inp.head()
            if major != 2 or m % _ISO:
                raise _bad("isolated")
            b.iso_off = inp.pos
            b.iso_len = m
            inp.skip(m)
        elif k == B_SETTINGS:
            s = inp.small()
            if type(s) is not dict:
                raise _bad("settings")
            out = {}
            for name in s:
                if type(name) is not str:
                    raise _bad("setting name")
                out[name] = _number(s[name])
            b.settings = out
        elif k == B_KEYS:
            ks = inp.small()
            if type(ks) is not list:
                raise _bad("keys")
            keys = []
            for e in ks:
                if type(e) is not list or len(e) != 2 or type(e[0]) is not bytes \
                        or type(e[1]) is not bytes or not 0 < len(e[0]) <= 16 \
                        or len(e[1]) != 65 or e[1][0] != 4:
                    raise _bad("issuer key")
                keys.append((e[0], e[1]))
            b.keys = keys
        else:
            inp.skip_item()  # a newer server's key: ignored
    if inp.pos != end:
        raise _bad("payload: trailing bytes")
    if b.version < 1:
        raise _bad("version")
    for k, what in ((B_ISSUED, "issued_at"), (B_COMMUNITY, "community"), (B_MODE, "mode"),
                    (B_THRESHOLD, "threshold")):
        if not seen & (1 << k):
            raise _bad(what)
    b.q_end = end


def _check_lists(f, b, buf):
    """The lists are sorted and duplicate-free (what the binary search needs)."""
    prev = None
    for c in b.revoked_chunks(f, buf):
        for i in range(0, len(c), _PID):
            cur = bytes(c[i:i + _PID])
            if prev is not None and cur <= prev:
                raise _bad("revoked ids not sorted")
            prev = cur
    pu = None
    for u in b.units(f):
        if pu is not None and u <= pu:
            raise _bad("quarantined units not sorted")
        pu = u
    prev = None
    for c in b.isolated_chunks(f, buf):
        for i in range(0, len(c), _ISO):
            cur = bytes(c[i:i + _PID])
            if prev is not None and cur <= prev:
                raise _bad("isolated ids not sorted")
            if c[i + 8] | c[i + 9] | c[i + 10] | c[i + 11] == 0:
                raise _bad("isolated: end 0")
            prev = cur


def _read_file(f, size, keys, max_bytes, buf):
    """Check the bundle in open file f (size bytes): Bundle (src unset) or BundleError.
    keys: {kid: PublicKey or pub65} (None: structure only, no signature check)."""
    if size > max_bytes:
        raise _bad("bundle too large")
    inp = _In(f, size)
    kid, protected, poff, plen, sig = _envelope(inp)
    if keys is not None:
        k = keys.get(kid)
        if k is None:
            raise BundleError(UNKNOWN_KID, "unknown bundle key")
        if not isinstance(k, p256.PublicKey):
            try:
                k = p256.PublicKey(k)
            except ValueError:
                raise BundleError(UNKNOWN_KID, "bundle key not a P-256 point")
        if not k.verify_digest(_digest(f, protected, poff, plen, buf), sig):
            raise BundleError(BAD_SIGNATURE, "bad bundle signature")
    b = Bundle(None)
    _payload(inp, b, poff, plen)
    _check_lists(f, b, buf)
    return b


def decode(data, keys=None, max_bytes=MAX_BYTES):
    """Decode signed bundle bytes; with keys ({kid: pub65 bytes or p256.PublicKey}) the
    ES256 signature is verified first. Raises BundleError with a result code."""
    b = _read_file(_Mem(data), len(data), keys, max_bytes, bytearray(_CHUNK))
    b.src = data
    return b


class _Mem:
    """The file calls this module makes, over bytes in RAM (decode(): tests, tools)."""

    def __init__(self, data):
        self.mv = memoryview(data)
        self.pos = 0

    def seek(self, pos):
        self.pos = pos
        return pos

    def read(self, n):
        p = self.pos
        self.pos = p + n
        return bytes(self.mv[p:p + n])

    def readinto(self, buf):
        p = self.pos
        d = self.mv[p:p + len(buf)]
        buf[:len(d)] = d
        self.pos = p + len(d)
        return len(d)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Store:
    """The applied bundle of this device.

    dirpath: where the bundle and the lists live (the directory app.lists.Lists reads);
    keys: {kid: pub65} trusted bundle signers (config.bundle_keys; their p256 tables are
    built once, at first use, and kept); community: this device's community id; log:
    EventLog for K_BUNDLE records (or None); max_bytes: the largest bundle flash takes
    (app.flash budget); on_apply: callables called with the Bundle after it is stored
    (the gate swaps settings/keys).
    """

    def __init__(self, dirpath, keys, community, log=None, max_bytes=MAX_BYTES):
        self.dir = dirpath
        self.keys = keys
        self._pk = {}
        self.community = community
        self.log = log
        self.max_bytes = max_bytes if max_bytes < MAX_BYTES else MAX_BYTES
        self.on_apply = []
        # callables b -> commit(): build what applying b needs (may raise), then commit()
        # (allocates nothing) runs once b is stored: see apply()
        self.on_prepare = []
        self.current = None
        self.rejected = 0
        self.last_result = None
        self._buf = bytearray(_CHUNK)
        try:
            os.mkdir(dirpath)
        except OSError:
            pass
        self.floor = self._read_floor()

    def _p(self, name):
        return self.dir + "/" + name

    @property
    def version(self):
        return self.current.version if self.current is not None else 0

    def _keys(self):
        """{kid: p256.PublicKey}: tables built once per key, kept across bundles."""
        pk = self._pk
        for kid in self.keys:
            if kid not in pk:
                try:
                    pk[kid] = p256.PublicKey(self.keys[kid])
                except ValueError:
                    pass  # never trusted: its bundles are UNKNOWN_KID
        return pk

    def _read_floor(self):
        try:
            with open(self._p(FLOOR), "rb") as f:
                d = f.read(8)
            v = int.from_bytes(d[:4], "big")
            if len(d) == 8 and int.from_bytes(d[4:], "big") == v ^ 0xFFFFFFFF:
                return v
        except OSError:
            pass
        return 0

    def _file(self, name, keys):
        """Check the bundle in file `name`: Bundle (src = its path) or BundleError."""
        path = self._p(name)
        size = _size(path)
        if size < 0:
            raise _bad("missing")
        with open(path, "rb") as f:
            b = _read_file(f, size, keys, self.max_bytes, self._buf)
        b.src = path
        return b

    def load(self):
        """At boot: finish an interrupted apply, then verify the stored bundle again
        (signature included, streamed). A bad stored bundle is ignored (the config's
        settings stay) and logged. Returns the bundle or None."""
        keys = self._keys()
        cur = None
        if _size(self._p(CURRENT)) >= 0:
            try:
                cur = self._file(CURRENT, keys)
                if cur.community != self.community:
                    raise BundleError(WRONG_COMMUNITY, "stored bundle for another community")
            except BundleError as e:
                self.last_result = (e.code, 0)
                self._log(e.code, 0, True)
                cur = None
        if _size(self._p(NEW)) >= 0:
            try:
                b = self._file(NEW, keys)  # written before the lists: check it fully
                if b.community == self.community and b.version >= self.floor \
                        and (cur is None or b.version > cur.version):
                    self._commit(b)
                    cur = b
                    self._log(APPLIED, b.version)
            except BundleError:
                pass
            _remove(self._p(NEW))
        self.current = cur
        return cur

    def _check(self, name):
        b = self._file(name, self._keys())
        if b.community != self.community:
            raise BundleError(WRONG_COMMUNITY, "bundle for another community")
        if b.version <= self.version or b.version < self.floor:
            raise BundleError(OLD_VERSION, "bundle version %d not newer than %d"
                              % (b.version, self.version if self.version > self.floor else self.floor))
        try:
            b.make_settings()
        except ValueError as e:
            raise _bad("settings: " + str(e))
        return b

    def check(self, data):
        """Verify `data` for this device without applying it: Bundle or BundleError."""
        self._save(data)
        try:
            return self._check(DOWNLOAD)
        finally:
            _remove(self._p(DOWNLOAD))

    def _save(self, data):
        mv = memoryview(data)
        write_atomic(self._p(DOWNLOAD), (mv[i:i + _CHUNK] for i in range(0, len(mv), _CHUNK)))

    def apply(self, data):
        """apply_file() for bundle bytes already in RAM (written to flash first)."""
        if len(data) > self.max_bytes:
            return self._reject(_bad("bundle too large"), 0)
        self._save(data)
        return self.apply_file()

    def sink(self):
        """An open file for the downloaded body (uplinktask streams it here), then
        download() for the answer's MAC check and apply_file(). Raises OSError."""
        return open(self._p(DOWNLOAD), "wb")

    def download(self):
        """The downloaded body as a Download (chunks() for the answer's HMAC)."""
        return Download(self._p(DOWNLOAD), self._buf)

    def discard(self):
        _remove(self._p(DOWNLOAD))

    def apply_file(self):
        """Verify, store and apply the bundle downloaded to `bundle.dl`. Returns (code,
        version): code APPLIED (0) or the rejection reason; every outcome is logged
        (K_BUNDLE, reason = code, aux = low 16 bits of the version; rejections flagged
        urgent)."""
        try:
            b = self._check(DOWNLOAD)
        except BundleError as e:
            v = 0
            try:
                v = self._file(DOWNLOAD, None).version  # what it claims, for the log only
            except (BundleError, ValueError, OSError):
                pass
            _remove(self._p(DOWNLOAD))
            return self._reject(e, v)
        # all or nothing: whatever the new bundle needs in RAM is built before it becomes
        # the stored one (a MemoryError here leaves the old bundle in force everywhere)
        staged = [f(b) for f in self.on_prepare]
        os.rename(self._p(DOWNLOAD), self._p(NEW))
        b.src = self._p(NEW)
        self._commit(b)
        b.src = self._p(CURRENT)
        self.current = b
        self.last_result = (APPLIED, b.version)
        for c in staged:
            c()
        self._log(APPLIED, b.version)
        for f in self.on_apply:
            f(b)
        return APPLIED, b.version

    def _reject(self, e, v):
        self.rejected += 1
        self.last_result = (e.code, v)
        self._log(e.code, v)
        return e.code, v

    def _commit(self, b):
        """Lists from bundle.new (streamed, chunk by chunk), then the rename that makes
        it current, then the version floor."""
        d = self.dir
        buf = self._buf
        with open(b.src, "rb") as f:
            write_atomic(d + "/" + lists.REVOKED, b.revoked_chunks(f, buf))
            write_atomic(d + "/" + lists.QUARANTINE, _unit_keys(b, f))
            write_atomic(d + "/" + lists.ISOLATION, b.isolated_chunks(f, buf))
        os.rename(self._p(NEW), self._p(CURRENT))
        if b.version > self.floor:
            v = b.version
            write_atomic(self._p(FLOOR), (v.to_bytes(4, "big") + (v ^ 0xFFFFFFFF).to_bytes(4, "big"),))
            self.floor = v

    def _log(self, code, version, stored=False):
        if self.log is None:
            return
        flags = record.F_URGENT if code != APPLIED and code != OLD_VERSION else 0
        # a stored bundle found bad at boot: aux 0xFFFF (no version believed)
        self.log.append(record.K_BUNDLE, code, flags, record.NO_ROLE, None, record.NO_TEMP,
                        record.NO_TEMP, record.NO_TEMP, 0xFFFF if stored else version & 0xFFFF)


class Download:
    """An answer body left on flash: chunks() yields it piece by piece (one buffer)."""

    def __init__(self, path, buf):
        self.path = path
        self.buf = buf

    def __len__(self):
        n = _size(self.path)
        return n if n > 0 else 0

    def chunks(self):
        mv = memoryview(self.buf)
        with open(self.path, "rb") as f:
            while True:
                n = f.readinto(mv)
                if not n:
                    return
                yield mv[:n]

    def small(self, limit=2048):
        """The whole body when it is at most `limit` bytes (an error answer), else b""."""
        if len(self) > limit:
            return b""
        with open(self.path, "rb") as f:
            return f.read()


def _unit_keys(b, f):
    """The quarantine file's 6-byte keys, 64 units per chunk."""
    out = bytearray(lists.W_UNIT * 64)
    n = 0
    for u in b.units(f):
        o = n * lists.W_UNIT
        out[o:o + lists.W_UNIT] = lists.unit_key(u[0], u[1], u[2])
        n += 1
        if n == 64:
            yield out
            n = 0
    if n:
        yield memoryview(out)[:n * lists.W_UNIT]
