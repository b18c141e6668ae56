"""Device health for the heartbeat (app/health.py) on CPython and MicroPython: every
field from its source, never raising, and carried in the signed heartbeat body."""
import json

from app import health, uplink


class Gate:
    def __init__(self, read_temp=True, scanner=True):
        self.read_temp = (lambda: (30.0, 22.0)) if read_temp else None
        self.scanner = object() if scanner else None
        self.last_error = None
        self._sensor_bad = False


class Relay:
    held = 0


class Fire:
    active = False


class WiFi:
    def __init__(self, v):
        self.v = v

    def rssi(self):
        if isinstance(self.v, Exception):
            raise self.v
        return self.v


class BrokenFire:
    @property
    def active(self):
        raise OSError(5)


def test_report_fields():
    g = Gate()
    r = Relay()
    f = Fire()
    h = health.Health(g, [], WiFi(-58), f, r, "usb")
    rep = h.report()
    assert rep["rssi"] == -58 and rep["sensor"] == "ok" and rep["scanner"] == "ok"
    assert rep["last_error"] == "" and rep["fire"] is False and rep["held"] == 0
    assert rep["release"] == "usb"
    assert rep["heap_free"] is None or rep["heap_free"] > 0
    g._sensor_bad = True
    g.last_error = OSError(19)
    f.active = True
    r.held = 1
    rep = h.report()
    assert rep["sensor"] == "fault" and rep["fire"] is True and rep["held"] == 1
    assert rep["last_error"].startswith("OSError: ") and "19" in rep["last_error"]


def test_missing_devices_and_broken_parts_never_raise():
    h = health.Health(Gate(read_temp=False, scanner=True), [("sensor", "no ACK"), ("scanner", "no reply")],
                      WiFi(OSError(1)), BrokenFire(), None)
    rep = h.report()
    assert rep["sensor"] == "fault" and rep["scanner"] == "fault" and rep["rssi"] is None
    assert rep["fire"] is False and rep["held"] == 0
    rep = health.Health(Gate(read_temp=False, scanner=False), [], None, None, None).report()
    assert rep["sensor"] == "none" and rep["scanner"] == "none" and rep["rssi"] is None


def test_app_error_first_and_error_text_is_short_printable_ascii():
    g = Gate()
    g.last_error = ValueError("gate")
    h = health.Health(g, [], app_error=lambda: "gate: OSError(110)")
    assert h.report()["last_error"] == "gate: OSError(110)"
    t = health.error_text(ValueError("line one\nline two \u00b0C " + "x" * 80))
    assert len(t) == 48 and "\n" not in t and t.startswith("ValueError: line one?line two ?C")
    assert health.error_text(None) == ""


def test_release_state_from_the_file():
    import os

    from core_doubles import tmpdir

    d = tmpdir("rel")
    assert health.release_state(d) == "usb"
    with open(d + "/ota.json", "w") as f:
        f.write(json.dumps({"state": "trial"}))
    assert health.release_state(d + "/") == "trial"
    with open(d + "/ota.json", "w") as f:
        f.write("{broken")
    assert health.release_state(d) == "usb"
    os.remove(d + "/ota.json")


def test_release_fields_come_from_the_updater():
    """With an OTA updater (app/ota.py): this boot's download state, the running and the
    rolled-back versions, the hardware tier (what the server's rollouts read)."""
    from app import ota

    from core_doubles import tmpdir

    d = tmpdir("relup")
    with open(d + "/ota.json", "w") as f:
        f.write(json.dumps({"active": "", "version": 3, "trial": "", "state": "rolled_back", "failed": 4}))
    u = ota.Updater(d, {b"k": b"x"}, 6, 100000)
    u.tier = "mpy"
    rep = health.Health(Gate(read_temp=False, scanner=True), [], None, None, None, "usb", None, u).report()
    assert rep["release"] == "rolled_back" and rep["release_version"] == 3 and rep["release_failed"] == 4
    assert rep["tier"] == "mpy"
    u.offer(4)
    assert not u.due(0)  # the version the boot path rolled back is never fetched again
    u.offer(5)
    assert u.due(0) and u.next_path() == "/api/device/v1/release/5/manifest"
    u.state = ota.DOWNLOADING
    assert health.Health(None, [], ota=u).report()["release"] == "downloading"


def test_heartbeat_body_carries_health_and_survives_a_failing_report():
    from fw_uplink import Rig

    r = Rig()
    body = json.loads(r.up.status_request().body())
    assert "health" not in body  # no report hooked: the heartbeat as before
    g = Gate()
    r.up.health = health.Health(g, [], WiFi(-70), Fire(), Relay(), "usb").report
    body = json.loads(r.up.status_request().body())
    assert body["health"]["rssi"] == -70 and body["health"]["release"] == "usb"
    assert body["firmware"] == "" and len(body["nonce"]) == 16

    def broken():
        raise MemoryError()

    r.up.health = broken
    body = json.loads(r.up.status_request().body())
    assert "health" not in body and body["backlog"] == 0
    assert r.up.status_request().kind == uplink.REQ_STATUS
