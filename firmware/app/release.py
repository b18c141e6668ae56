"""Signed firmware releases: verify a release manifest and stage its files (OTA, device
side; the boot path that switches and rolls back is otaboot.py at the root).

    m = release.verify(manifest_bytes, firmware_keys, current_version, mpy_version)
    st = release.Stager(root, m, slot)          # slot: the otaboot slot not in use
    for i in range(len(m.files)):               # each file streamed, bounded RAM
        st.begin(i); st.write(chunk) ...; st.finish()
    st.complete()                                # every file verified: otaboot trial marker

Manifest: COSE_Sign1 (ES256) by a **firmware key** (config "firmware_keys", never a pass
issuer or bundle key), payload a CBOR map {1: version (uint, above the running one: no
rollback to an older release), 2: mpy (the .mpy version, sys.implementation._mpy & 0xFF),
3: [[path, size, sha256], ...] (1..MAX_FILES files under app/ or drivers/, .mpy or .py),
4: issued_at}. Everything else is refused with ReleaseError (a ValueError).

Staging writes <slot>/<path>.part, hashes while writing, refuses a file longer than its
manifest size, and renames it into place only when size and sha256 match. complete()
re-checks every staged file from flash (size and sha256) before it writes the trial
marker through otaboot.begin_trial(); until then the running set is untouched, so a power
cut at any point leaves the old set bootable and at worst a partial slot that the next
update overwrites.
"""
import hashlib
import os

from micropython import const

from app import cbor, cose

MAX_FILES = const(64)
PATH_MAX = const(48)
FILE_MAX = const(65536)
_CHUNK = const(1024)
_OK_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_./"


class ReleaseError(ValueError):
    pass


class Manifest:
    def __init__(self, version, mpy, files, issued_at, kid):
        self.version = version
        self.mpy = mpy
        self.files = files  # [(path, size, sha256 bytes)]
        self.issued_at = issued_at
        self.kid = kid

    def total(self):
        n = 0
        for f in self.files:
            n += f[1]
        return n


def _uint(v, what, hi=0xFFFFFFFF):
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > hi:
        raise ReleaseError("manifest: bad " + what)
    return v


def check_path(p):
    """A staged path: app/ or drivers/ + one plain name ending .mpy or .py."""
    if not isinstance(p, str) or not 0 < len(p) <= PATH_MAX:
        raise ReleaseError("manifest: bad path")
    for ch in p:
        if ch not in _OK_CHARS:
            raise ReleaseError("manifest: bad path " + p)
    parts = p.split("/")
    if (len(parts) != 2 or parts[0] not in ("app", "drivers") or not parts[1]
            or parts[1].startswith(".") or not (parts[1].endswith(".mpy") or parts[1].endswith(".py"))):
        raise ReleaseError("manifest: path outside the app: " + p)
    return p


def verify(data, keys, current_version, mpy):
    """The Manifest of signed release `data`; keys: {kid: p256.PublicKey or pub65}."""
    try:
        s = cose.decode_sign1(data)
    except ValueError as e:
        raise ReleaseError("release: %s" % e)
    key = keys.get(bytes(s.kid))
    if key is None:
        raise ReleaseError("release: signed by an unknown firmware key")
    if isinstance(key, (bytes, bytearray)):
        from app import p256

        key = p256.PublicKey(bytes(key))
    if not key.verify(s.tbs(), s.signature):
        raise ReleaseError("release: bad signature")
    try:
        m = cbor.loads(s.payload)
    except ValueError:
        raise ReleaseError("manifest: not CBOR")
    if not isinstance(m, dict):
        raise ReleaseError("manifest: not a map")
    for k in m:
        if k not in (1, 2, 3, 4):
            raise ReleaseError("manifest: unknown field")
    version = _uint(m.get(1), "version")
    if version <= current_version:
        raise ReleaseError("release %d is not newer than %d" % (version, current_version))
    rel_mpy = _uint(m.get(2), "mpy", 0xFF)
    if rel_mpy != mpy & 0xFF:
        raise ReleaseError("release built for .mpy %d, this firmware runs %d" % (rel_mpy, mpy & 0xFF))
    lst = m.get(3)
    if not isinstance(lst, list) or not 0 < len(lst) <= MAX_FILES:
        raise ReleaseError("manifest: bad file list")
    files = []
    seen = {}
    for e in lst:
        if not isinstance(e, list) or len(e) != 3:
            raise ReleaseError("manifest: bad file entry")
        p = check_path(e[0])
        if p in seen:
            raise ReleaseError("manifest: file twice: " + p)
        seen[p] = 1
        size = _uint(e[1], "size", FILE_MAX)
        h = e[2]
        if not isinstance(h, bytes) or len(h) != 32:
            raise ReleaseError("manifest: bad sha256")
        files.append((p, size, h))
    return Manifest(version, rel_mpy, files, _uint(m.get(4, 0), "issued_at"), bytes(s.kid))


def _mkdirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            cur = "/" if not cur else cur
            continue
        cur = cur + part if cur.endswith("/") else cur + "/" + part
        try:
            os.mkdir(cur)
        except OSError:
            pass


def _rm(p):
    try:
        os.remove(p)
    except OSError:
        pass


def file_ok(path, size, sha):
    """True when file `path` has exactly `size` bytes hashing to `sha`."""
    h = hashlib.sha256()
    n = 0
    buf = bytearray(_CHUNK)
    try:
        with open(path, "rb") as f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                n += k
                if n > size:
                    return False
                h.update(memoryview(buf)[:k])
    except OSError:
        return False
    return n == size and h.digest() == sha


class Stager:
    """Writes the files of manifest `m` into slot directory root/ota/<slot>."""

    def __init__(self, root, m, slot):
        self.root = root.rstrip("/")
        self.m = m
        self.slot = slot
        self.dir = "%s/ota/%s" % (self.root, slot)
        _mkdirs(self.dir + "/app")
        _mkdirs(self.dir + "/drivers")
        self._i = -1
        self._f = None
        self._h = None
        self._n = 0

    def begin(self, i):
        self.abort()
        self._i = i
        p = self.dir + "/" + self.m.files[i][0]
        self._f = open(p + ".part", "wb")
        self._h = hashlib.sha256()
        self._n = 0

    def write(self, chunk):
        f = self._f
        if f is None:
            raise ReleaseError("stage: no file open")
        n = self._n + len(chunk)
        if n > self.m.files[self._i][1]:
            self.abort()
            raise ReleaseError("stage: %s longer than its manifest size" % self.m.files[self._i][0])
        f.write(chunk)
        self._h.update(chunk)  # pyright: ignore[reportOptionalMemberAccess]
        self._n = n

    def finish(self):
        """Close the current file; rename it into place only when size and hash match."""
        f = self._f
        if f is None:
            raise ReleaseError("stage: no file open")
        path, size, sha = self.m.files[self._i]
        f.close()
        self._f = None
        p = self.dir + "/" + path
        if self._n != size or self._h.digest() != sha:  # pyright: ignore[reportOptionalMemberAccess]
            _rm(p + ".part")
            raise ReleaseError("stage: %s does not match its sha256" % path)
        _rm(p)
        os.rename(p + ".part", p)

    def abort(self):
        f = self._f
        if f is not None:
            f.close()
            self._f = None
            _rm(self.dir + "/" + self.m.files[self._i][0] + ".part")

    def complete(self):
        """Every file checked again from flash, then the trial marker (otaboot)."""
        for path, size, sha in self.m.files:
            if not file_ok(self.dir + "/" + path, size, sha):
                raise ReleaseError("stage: %s missing or changed on flash" % path)
        import otaboot

        otaboot.begin_trial(self.root, self.slot, self.m.version)
