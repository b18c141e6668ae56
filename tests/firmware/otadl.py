"""Runs app/ota.py's download (Updater + FileSink) against a scripted in-process server on
any runtime, for tests/firmware/test_ota_download.py: the calls app/uplinktask.py makes,
without the network. Results as plain lists and strings."""
import binascii

import otaboot
from app import ota, uplink

SECRET = b"0123456789abcdef0123456789abcdef"


class Log:
    """Records what the updater logs (kind, flags, pid, aux)."""

    def __init__(self):
        self.recs = []

    def append(self, kind, reason, flags, role, pid, body, obj, amb, aux):
        self.recs.append([kind, flags, binascii.hexlify(pid).decode(), aux])
        return len(self.recs)


def keys(pairs):
    out = {}
    for kid, pub in pairs:
        out[binascii.unhexlify(kid)] = binascii.unhexlify(pub)
    return out


def _serve(u, mac, releases, faults, n, chunk):
    """One request: what the task would send and do with the answer. faults: {"<path>":
    [action, ...]} consumed in order ("corrupt", "long", "short", "badmac", "404")."""
    path = u.next_path()
    want_file = u.want_file()
    parts = path.split("/")  # /api/device/v1/release/<v>/manifest|file/<i>
    v = int(parts[5])
    rel = releases.get(str(v))
    act = ""
    fl = faults.get(path)
    if fl:
        act = fl.pop(0)
    sig = "%064x" % n  # the request signature (any distinct text)
    if rel is None or act == "404":
        if want_file:
            u.failed_exchange()
        return [path, "404"]
    if not want_file:
        u.on_manifest(binascii.unhexlify(rel[0]), n * 1000)
        return [path, u.state]
    body = binascii.unhexlify(rel[1][int(parts[7])])
    if act == "corrupt":
        body = body[:-1] + bytes([body[-1] ^ 1])
    elif act == "long":
        body = body + b"extra"
    elif act == "short":
        body = body[:-1]
    sink = u.file_sink(mac, sig)
    for i in range(0, len(body), chunk):
        sink.write(body[i:i + chunk])
    rs = mac.hex((b"resp\n" + sig.encode() + b"\n", body))
    if act == "badmac":
        rs = "0" * 64
    if not uplink.verify_response(mac, sig, sink, rs):
        u.failed_exchange()
        return [path, "bad_mac"]
    u.on_file(sink, n * 1000)
    return [path, u.state]


def run(root_name, key_pairs, mpy, budget, offers, releases, faults, chunk=300, need=()):
    """offers: [[version, steps at that offer] or ["boot", n] (the board resets n times:
    otaboot.select() each time, then a new Updater on the same flash) or ["confirm"]
    (main.py's confirmation)]; releases: {"v": [manifest hex, [file hex, ...]]}. Steps
    advance a virtual clock by 1 s; the retry backoff is 5 s, doubling to 20 s."""
    from core_doubles import tmpdir

    root = tmpdir(root_name)
    log = Log()

    def updater():
        return ota.Updater(root, keys(key_pairs), mpy, budget, log, root, 5000, 20000, lambda k: 0, need)

    u = updater()
    mac = uplink.Hmac(SECRET)
    trace = []
    n = 0
    for step in offers:
        if step[0] == "boot":
            for _ in range(step[1]):
                trace.append(["boot"] + list(otaboot.select(root)[:1]))
            u = updater()
            trace.append(["up", u.release_state(), u.running, u.reset_wanted])
            continue
        if step[0] == "confirm":
            trace.append(["confirm", otaboot.confirm(root)])
            u.confirmed()
            continue
        v, steps = step
        u.offer(v)
        for _ in range(steps):
            n += 1
            if not u.due(n * 1000):
                continue
            trace.append(_serve(u, mac, releases, faults, n, chunk))
            if u.reset_wanted:
                break
    return {"trace": trace, "state": u.release_state(), "reset": u.reset_wanted, "ota": otaboot.load(root),
            "records": log.recs, "error": u.error, "progress": list(u.progress()), "running": u.running}
