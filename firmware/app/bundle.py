"""Signed community bundles on the device: verify, store atomically, apply.

A bundle (host_tools/gatepass/issuing/bundles.py builds it) is a tagged COSE_Sign1, ES256,
signed with a community bundle key the device config trusts (config.bundle_keys),
over a CBOR map:

    1 version (uint, only a greater one is applied)   2 issued_at (unix s)
    3 community (text, must be this device's)          4 mode (0..2)
    5 threshold (centi-degrees C)                      6 revoked: bstr of sorted 8-byte ids
    7 quarantined: [[building, entrance, room], ...]   8 settings: {name: value}
    9 issuer keys: [[kid, pub65], ...]

Floats in settings come as RFC 8949 decimal fractions (tag 4 [exponent, mantissa]).

Files in `dirpath` (Store): `bundle.cbor` (the signed bytes as received, the commit
point), `bundle.new` (written first; a power cut between it and the rename is rolled
forward at the next boot), and the lists app/lists.py reads (revoked.bin,
quarantine.bin), each replaced by temp file + rename.
"""
import os

from micropython import const

from app import cbor, cose, lists, p256, reasons, record
from app import settings as _settings
from app.fsutil import write_atomic

MAX_BYTES = const(49152)  # bundle size accepted (RAM: the payload is decoded whole)
CURRENT = "bundle.cbor"
NEW = "bundle.new"

B_VERSION = const(1)
B_ISSUED = const(2)
B_COMMUNITY = const(3)
B_MODE = const(4)
B_THRESHOLD = const(5)
B_REVOKED = const(6)
B_QUARANTINED = const(7)
B_SETTINGS = const(8)
B_KEYS = const(9)
_TAG_DECIMAL = const(4)
_PID = const(8)

# result codes (reason field of the K_BUNDLE record; 0 = applied)
APPLIED = const(0)
MALFORMED = reasons.MALFORMED
UNKNOWN_KID = reasons.UNKNOWN_KID
BAD_SIGNATURE = reasons.BAD_SIGNATURE
WRONG_COMMUNITY = reasons.WRONG_COMMUNITY
OLD_VERSION = reasons.STALE_BUNDLE  # not newer than the applied one: a replay or a rollback


class BundleError(ValueError):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def _uint(v, hi=0xFFFFFFFF):
    return type(v) is int and 0 <= v <= hi


def _get_uint(m, key, hi, what):
    v = m.get(key)
    if type(v) is int and 0 <= v <= hi:
        return v
    raise BundleError(MALFORMED, what)


def _number(v):
    """A setting value from CBOR: tag 4 decimal fraction -> float; lists recursively."""
    if isinstance(v, cbor.Tag):
        if v.tag != _TAG_DECIMAL or type(v.value) is not list or len(v.value) != 2:
            raise BundleError(MALFORMED, "setting: unsupported tag")
        e = v.value[0]
        m = v.value[1]
        if type(e) is not int or type(m) is not int or not -18 <= e <= 18:
            raise BundleError(MALFORMED, "setting: bad decimal")
        if e >= 0:
            return float(m * 10 ** e)
        return m / (10 ** -e)
    if type(v) is list:
        return [_number(x) for x in v]
    return v


class Bundle:
    """A decoded bundle: version, issued_at, community, mode, threshold_cc, revoked
    (bytes, concatenated 8-byte ids), quarantined (list of (b, e, r)), settings (dict
    without mode/threshold), keys (list of (kid, pub65)), raw (the signed bytes)."""

    def __init__(self, m, raw):
        if type(m) is not dict:
            raise BundleError(MALFORMED, "payload not a map")
        self.raw = raw
        self.version = _get_uint(m, B_VERSION, 0xFFFFFFFF, "version")
        if self.version < 1:
            raise BundleError(MALFORMED, "version")
        self.issued_at = _get_uint(m, B_ISSUED, 0xFFFFFFFF, "issued_at")
        c = m.get(B_COMMUNITY)
        if type(c) is not str or not c:
            raise BundleError(MALFORMED, "community")
        self.community = c
        self.mode = _get_uint(m, B_MODE, 2, "mode")
        self.threshold_cc = _get_uint(m, B_THRESHOLD, 0xFFFF, "threshold")
        rev = m.get(B_REVOKED, b"")
        if type(rev) is not bytes or len(rev) % _PID:
            raise BundleError(MALFORMED, "revoked")
        self.revoked = rev
        q = m.get(B_QUARANTINED, [])
        if type(q) is not list:
            raise BundleError(MALFORMED, "quarantined")
        units = []
        for u in q:
            if type(u) is not list or len(u) != 3 or not _uint(u[0], 0xFFFF) or u[0] == 0 \
                    or not _uint(u[1], 0xFFFF) or not _uint(u[2], 0xFFFF):
                raise BundleError(MALFORMED, "quarantined unit")
            units.append((u[0], u[1], u[2]))
        self.quarantined = units
        s = m.get(B_SETTINGS, {})
        if type(s) is not dict:
            raise BundleError(MALFORMED, "settings")
        out = {}
        for k in s:
            if type(k) is not str:
                raise BundleError(MALFORMED, "setting name")
            out[k] = _number(s[k])
        self.settings = out
        ks = m.get(B_KEYS, [])
        if type(ks) is not list:
            raise BundleError(MALFORMED, "keys")
        keys = []
        for e in ks:
            if type(e) is not list or len(e) != 2 or type(e[0]) is not bytes \
                    or type(e[1]) is not bytes or not 0 < len(e[0]) <= 16 \
                    or len(e[1]) != 65 or e[1][0] != 4:
                raise BundleError(MALFORMED, "issuer key")
            keys.append((e[0], e[1]))
        self.keys = keys

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
        return len(self.revoked) // _PID


def decode(data, keys=None):
    """Decode a signed bundle; with keys ({kid: pub65 bytes or p256.PublicKey}) the
    ES256 signature is verified first. Raises BundleError with a result code."""
    if len(data) > MAX_BYTES:
        raise BundleError(MALFORMED, "bundle too large")
    try:
        s = cose.decode_sign1(data)
    except ValueError as e:
        raise BundleError(MALFORMED, "envelope: " + str(e))
    if keys is not None:
        k = keys.get(s.kid)
        if k is None:
            raise BundleError(UNKNOWN_KID, "unknown bundle key")
        tbs = s.tbs()
        if isinstance(k, p256.PublicKey):
            ok = k.verify(tbs, s.signature)
        else:
            ok = p256.verify(k, tbs, s.signature)
        tbs = None
        if not ok:
            raise BundleError(BAD_SIGNATURE, "bad bundle signature")
    try:
        # every item takes at least one byte: the payload length bounds the work
        m = cbor.loads(s.payload, 6, len(s.payload) + 1)
    except ValueError as e:
        raise BundleError(MALFORMED, "payload: " + str(e))
    return Bundle(m, data)


def _write_atomic(path, data, chunk=512):
    mv = memoryview(data)
    write_atomic(path, (mv[i:i + chunk] for i in range(0, len(mv), chunk)))


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _sorted_unique(b, w):
    mv = memoryview(b)
    for i in range(w, len(b), w):
        if bytes(mv[i - w:i]) >= bytes(mv[i:i + w]):
            return False
    return True


class Store:
    """The applied bundle of this device.

    dirpath: where the bundle and the lists live (the directory app.lists.Lists reads);
    keys: {kid: pub65} trusted bundle signers (config.bundle_keys); community: this
    device's community id; log: EventLog for K_BUNDLE records (or None); on_apply:
    callables called with the Bundle after it is stored (the gate swaps settings/keys).
    """

    def __init__(self, dirpath, keys, community, log=None):
        self.dir = dirpath
        self.keys = keys
        self.community = community
        self.log = log
        self.on_apply = []
        self.current = None
        self.rejected = 0
        self.last_result = None
        try:
            os.mkdir(dirpath)
        except OSError:
            pass

    def _p(self, name):
        return self.dir + "/" + name

    @property
    def version(self):
        return self.current.version if self.current is not None else 0

    def load(self):
        """At boot: finish an interrupted apply, then read the stored bundle (checked
        when it was applied; its structure is checked again here). Returns it or None."""
        cur = None
        raw = _read(self._p(CURRENT))
        if raw is not None:
            try:
                cur = decode(raw)
            except BundleError:
                cur = None
        new = _read(self._p(NEW))
        if new is not None:
            try:
                b = decode(new, self.keys)  # written before the lists: check it fully
                if b.community == self.community and (cur is None or b.version > cur.version):
                    self._commit(b)
                    cur = b
                    self._log(APPLIED, b.version)
            except BundleError:
                pass
            _remove(self._p(NEW))
        self.current = cur
        return cur

    def check(self, data):
        """Verify `data` for this device without storing it: Bundle or BundleError."""
        b = decode(data, self.keys)
        if b.community != self.community:
            raise BundleError(WRONG_COMMUNITY, "bundle for another community")
        if b.version <= self.version:
            raise BundleError(OLD_VERSION, "bundle version %d not newer than %d"
                              % (b.version, self.version))
        try:
            b.make_settings()
        except ValueError as e:
            raise BundleError(MALFORMED, "settings: " + str(e))
        return b

    def apply(self, data):
        """Verify, store and apply a downloaded bundle. Returns (code, version): code
        APPLIED (0) or the rejection reason; every outcome is logged (K_BUNDLE, reason
        = code, aux = low 16 bits of the version; rejections flagged urgent)."""
        try:
            b = self.check(data)
        except BundleError as e:
            self.rejected += 1
            v = 0
            try:
                v = decode(data).version  # what it claims, for the log only
            except (BundleError, ValueError):
                pass
            self.last_result = (e.code, v)
            self._log(e.code, v)
            return e.code, v
        _write_atomic(self._p(NEW), data)
        self._commit(b)
        self.current = b
        self.last_result = (APPLIED, b.version)
        self._log(APPLIED, b.version)
        for f in self.on_apply:
            f(b)
        return APPLIED, b.version

    def _commit(self, b):
        d = self.dir
        if _sorted_unique(b.revoked, _PID):
            _write_atomic(d + "/" + lists.REVOKED, b.revoked)
        else:  # signed but not canonical: sort it here rather than break the search
            mv = memoryview(b.revoked)
            lists.write_revoked(d, [bytes(mv[i:i + _PID]) for i in range(0, len(mv), _PID)])
        lists.write_quarantine(d, b.quarantined)
        os.rename(self._p(NEW), self._p(CURRENT))

    def _log(self, code, version):
        if self.log is None:
            return
        flags = record.F_URGENT if code != APPLIED and code != OLD_VERSION else 0
        self.log.append(record.K_BUNDLE, code, flags, record.NO_ROLE, None, record.NO_TEMP,
                        record.NO_TEMP, record.NO_TEMP, version & 0xFFFF)
