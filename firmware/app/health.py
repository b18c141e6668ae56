"""Device health for the heartbeat (POST /status): what staff see on the devices page.

    h = Health(gate, dev.faults, wifi=wifi, fire=dev.fire, relay=dev.relay)
    uplink.health = h.report        # merged into every heartbeat body

report() -> {"rssi": dBm or None, "heap_free": bytes, "sensor": "ok"|"fault"|"none",
"scanner": "ok"|"fault"|"none", "last_error": text (<= 48 chars, "" when none),
"fire": bool, "held": relay hold bits (1 fire, 2 remote release), "release": text}.
"release" is the firmware's release state: "usb" for a USB-deployed app (no OTA
release), else what the OTA boot path (otaboot.py) recorded in /ota.json, or this boot's
download ("downloading", "failed", "staged": app/ota.py). With an updater (`ota`) also
"release_version" (the release running, 0 = the USB set), "release_failed" (the last
version rolled back, 0 = none) and "tier" (the profile's "firmware": "mpy" | "frozen").
Every read is guarded: a broken part reports "fault" or None, never raises.
"""
import gc

_ERR_LEN = 48
FAULT = "fault"
OK = "ok"
NONE = "none"


def error_text(e):
    """A short, single-line description of exception (or text) `e`."""
    if e is None:
        return ""
    try:
        s = e if isinstance(e, str) else "%s: %s" % (type(e).__name__, e)
    except Exception:  # noqa: BLE001 - a broken __str__
        s = "error"
    out = []
    for ch in s[:_ERR_LEN]:
        out.append(ch if " " <= ch <= "~" else "?")  # printable ASCII only
    return "".join(out)


def release_state(root="/"):
    """The OTA release state otaboot.py recorded ("usb": the USB-deployed set, no OTA yet;
    "staged", "trial", "confirmed", "rolled_back")."""
    import json

    try:
        with open(root.rstrip("/") + "/ota.json") as f:
            v = json.loads(f.read()).get("state", "")
        return v[:16] if isinstance(v, str) and v else "usb"
    except (OSError, ValueError, AttributeError):
        return "usb"


class Health:
    def __init__(self, gate, faults=(), wifi=None, fire=None, relay=None, release="usb",
                 app_error=None, ota=None):
        self.gate = gate
        self.faulty = [f[0] for f in faults]  # devices that failed to build
        self.wifi = wifi
        self.fire = fire
        self.relay = relay
        self.release = release
        self.app_error = app_error  # callable -> the app's last error text, or None
        self.ota = ota  # app.ota.Updater (its state replaces `release`)

    def _sensor(self):
        g = self.gate
        if g is None or g.read_temp is None:
            return FAULT if "sensor" in self.faulty else NONE
        return FAULT if getattr(g, "_sensor_bad", False) else OK

    def _scanner(self):
        g = self.gate
        if "scanner" in self.faulty:
            return FAULT
        return OK if g is not None and g.scanner is not None else NONE

    def _rssi(self):
        w = self.wifi
        f = getattr(w, "rssi", None)
        if f is None:
            return None
        try:
            return f()
        except Exception:  # noqa: BLE001
            return None

    def _last_error(self):
        e = None
        if self.app_error is not None:
            try:
                e = self.app_error()
            except Exception:  # noqa: BLE001
                e = None
        if not e and self.gate is not None:
            e = self.gate.last_error
        return error_text(e)

    def report(self):
        fire = False
        if self.fire is not None:
            try:
                fire = bool(self.fire.active)
            except Exception:  # noqa: BLE001 - a pin that cannot be read
                fire = False
        held = self.relay.held if self.relay is not None else 0
        try:
            heap = gc.mem_free()
        except Exception:  # noqa: BLE001 - CPython's gc has no mem_free
            heap = None
        d = {"rssi": self._rssi(), "heap_free": heap, "sensor": self._sensor(),
             "scanner": self._scanner(), "last_error": self._last_error(), "fire": fire,
             "held": held, "release": self.release}
        o = self.ota
        if o is not None:
            d["release"] = o.release_state()
            d["release_version"] = o.running
            d["release_failed"] = o.failed
            if o.tier:
                d["tier"] = o.tier
        return d
