"""A power cut at every filesystem write of an OTA update and its switch, on the
MicroPython unix port (tests/firmware/test_ota_power_cut.py).

For cut point k = 0, 1, 2, ...: a fresh flash holding only the USB set (firmware/ at /fw),
then the update runs -- release.Stager writes every file of the release (a complete app
set) into the free slot, complete() writes the otaboot trial marker, the board resets,
firmware/boot.py runs (otaboot.select counts the trial boot), main.py's confirm() -- and
the power fails at the k-th write step (a write() of a file's bytes, which may tear: only
a prefix lands; a rename; a remove; a mkdir). Then the board boots again, up to five
times, each boot running the real firmware/boot.py and importing main.py (every app
module main.py needs, from whichever set boot.py chose): every boot must import, from a
set that is exactly the USB set or exactly the release. A trial set is confirmed on the
first boot that comes up, like main.py does after its healthy minutes.
"""
import builtins
import hashlib
import os
import sys

import otaboot
from app import release

_open = builtins.open
_os = {}
for _n in ("rename", "remove", "mkdir"):
    _os[_n] = getattr(os, _n)


class PowerCut(BaseException):
    pass


class Budget:
    def __init__(self, k):
        self.k = k
        self.n = 0

    def spend(self):
        """One write step; raises PowerCut at step k (None: never)."""
        i = self.n
        self.n += 1
        if self.k is not None and i == self.k:
            raise PowerCut()


_budget = [None]


class _File:
    def __init__(self, f):
        self.f = f

    def write(self, b):
        bud = _budget[0]
        try:
            bud.spend()
        except PowerCut:
            self.f.write(b[:len(b) // 2])  # a torn write: half of it reached the flash
            self.f.close()
            raise
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


def _wopen(path, mode="r", *a):
    f = _open(path, mode, *a)
    if _budget[0] is not None and ("w" in mode or "a" in mode or "+" in mode):
        return _File(f)
    return f


def _wrap(name):
    real = _os[name]

    def op(*a):
        if _budget[0] is not None:
            _budget[0].spend()
        return real(*a)
    return op


def install():
    builtins.open = _wopen
    for n in _os:
        setattr(os, n, _wrap(n))


class _WDT:
    armed = []

    def __init__(self, *a, **kw):
        _WDT.armed.append(kw.get("timeout", a[1] if len(a) > 1 else 0))

    def feed(self):
        pass


class _Machine:
    """boot.py arms machine.WDT for a trial; main.py imports machine: a stub (no board)."""
    WDT = _WDT


def _machine():
    return _Machine


def _rmtree(p):
    try:
        names = os.listdir(p)
    except OSError:
        try:
            _os["remove"](p)
        except OSError:
            pass
        return
    for n in names:
        _rmtree(p + "/" + n)
    try:
        os.rmdir(p)
    except OSError:
        pass


def _forget():
    for name in list(sys.modules):
        if name in ("app", "drivers", "main", "boot") or name.startswith("app.") or name.startswith("drivers."):
            del sys.modules[name]


def boot_once(root, imports=True):
    """firmware/boot.py, then main.py's imports: (slot, state, the module path of
    app.gate). An exception here is a board that does not boot."""
    path0 = list(sys.path)
    _forget()
    sys.modules["machine"] = _machine()
    try:
        with _open("/fw/boot.py") as f:
            src = f.read()
        g = {"__name__": "boot"}
        exec(src, g)
        slot = g.get("_slot", "")
        state = g.get("_ota", {}).get("state")
        where = ""
        if imports is True or (imports == "auto" and slot):
            # the USB set (/fw) is never written by an update: importing it proves nothing
            # new each time (and compiles every source), the test imports it once
            import main  # noqa: F401 - every module main.py imports, from the chosen set

            from app import gate
            where = gate.__file__
    finally:
        sys.path[:] = path0
        _forget()
        import otaboot as _ob  # noqa: F401 - stays (boot.py's module, the USB one)
    return slot, state, where


def same_set(root, slot, m):
    """True when the slot's files are exactly the release's."""
    for p, size, sha in m.files:
        if not release.file_ok(root + "/ota/" + slot + "/" + p, size, sha):
            return False
    return True


def stage(root, m, rel_dir, chunk):
    slot = otaboot.free_slot(root)
    st = release.Stager(root, m, slot)
    buf = bytearray(chunk)
    for i in range(len(m.files)):
        st.begin(i)
        with _open(rel_dir + "/" + str(i), "rb") as f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                st.write(bytes(buf[:k]))
        st.finish()
    st.complete()
    return slot


def run(key_pairs, mpy, chunk=4096, first=0, last=100000):
    """Cut at every step k in first..last (until the update runs through uncut); a list
    of findings per k: [k, boots [[slot, state, where], ...], final set "usb"/"release"]."""
    import binascii

    root = "/"  # the device root
    with _open("/rel/manifest.cose", "rb") as f:
        data = f.read()
    keys = {}
    for kid, pub in key_pairs:
        keys[binascii.unhexlify(kid)] = binascii.unhexlify(pub)
    m = release.verify(data, keys, 0, mpy)
    usb = boot_once("/", True)  # the USB set boots (imports every module main.py needs)
    if usb[0] != "" or not usb[2].startswith("/fw/"):
        raise AssertionError("not the USB set: %r" % (usb,))
    install()
    out = []
    k = first
    while k <= last:
        _budget[0] = None
        _rmtree("/ota")
        for n in ("/ota.json", "/ota.json.tmp"):
            _rmtree(n)
        _budget[0] = Budget(k)
        cut = True
        try:
            stage(root, m, "/rel", chunk)
            boot_once(root, False)  # the switch: reset, boot.py counts the trial boot
            otaboot.confirm("/")  # main.py, healthy
            boot_once(root, False)
            cut = False
        except PowerCut:
            pass
        _budget[0] = None
        boots = []
        for i in range(5):  # power back: boot until the state settles (main.py imports
            b = boot_once(root, "auto" if i == 0 else False)  # checked on the first and last)
            boots.append(list(b))
            if b[1] != "trial":
                break
            otaboot.confirm("/")
        if len(boots) > 1:
            boots.append(list(boot_once(root, "auto")))
        slot = boots[-1][0]
        final = "usb" if slot == "" else ("release" if same_set("", slot, m) else "MIXED")
        if final == "usb" and boots[-1][2].startswith("/ota"):
            final = "MIXED"
        out.append([k, boots, final, otaboot.load("/")])
        if not cut:
            break
        k += 1
    return out
