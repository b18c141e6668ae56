"""Runs app/release.py + otaboot.py steps on any runtime for tests/firmware/test_ota.py
(results as plain lists and strings)."""
import binascii

import otaboot
from app import release


def keys(pairs):
    out = {}
    for kid, pub in pairs:
        out[binascii.unhexlify(kid)] = binascii.unhexlify(pub)
    return out


def verify(data, key_pairs, current, mpy):
    try:
        m = release.verify(data, keys(key_pairs), current, mpy)
    except release.ReleaseError as e:
        return ["refused", str(e)]
    return ["ok", m.version, [[p, n] for p, n, _ in m.files]]


def stage(root, data, key_pairs, current, mpy, contents, chunk=100):
    """Verify and stage `contents` ([bytes] in manifest order) into the free slot."""
    try:
        m = release.verify(data, keys(key_pairs), current, mpy)
        slot = otaboot.free_slot(root)
        st = release.Stager(root, m, slot)
        for i in range(len(m.files)):
            st.begin(i)
            b = contents[i]
            for j in range(0, len(b), chunk):
                st.write(b[j:j + chunk])
            st.finish()
        st.complete()
    except release.ReleaseError as e:
        return ["refused", str(e), otaboot.load(root)]
    return ["staged", slot, otaboot.load(root)]


def boot(root):
    slot, s = otaboot.select(root)
    return [slot, s.get("state"), s.get("boots", 0)]


def confirm(root):
    return otaboot.confirm(root)


def run(steps):
    """Run steps in one fresh root (each runtime call is a fresh interpreter):
    ["stage", data, key_pairs, current, mpy, contents], ["boot"], ["confirm"],
    ["cut_tmp"] (a power cut left ota.json.tmp behind), ["rmslot", slot],
    ["corrupt", slot, path] (a staged file changed on flash), ["files", slot]."""
    import os

    from core_doubles import tmpdir

    root = tmpdir("ota")
    out = []
    for st in steps:
        op = st[0]
        if op == "stage":
            out.append(stage(root, *st[1:]))
        elif op == "boot":
            out.append(boot(root))
        elif op == "confirm":
            out.append(confirm(root))
        elif op == "cut_tmp":
            with open(root + "/ota.json.tmp", "w") as f:
                f.write('{"active": "b", "tri')
            out.append(None)
        elif op == "rmslot":
            d = root + "/ota/" + st[1]
            for sub in ("app", "drivers"):
                for n in os.listdir(d + "/" + sub):
                    os.remove(d + "/" + sub + "/" + n)
                os.rmdir(d + "/" + sub)
            out.append(None)
        elif op == "corrupt":
            with open(root + "/ota/" + st[1] + "/" + st[2], "r+b") as f:
                f.write(b"X")
            out.append(release.file_ok(root + "/ota/" + st[1] + "/" + st[2], 0, b""))
        elif op == "state":
            out.append(otaboot.load(root))
    return out
