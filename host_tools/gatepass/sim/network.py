"""CPython stand-in for MicroPython's `network` module (ESP32 station interface), with a
simulated router whose outages tests schedule.

`gatepass.sim.install()` puts this module in sys.modules["network"], so
firmware/drivers/wifi.py runs unchanged. Time is the installed sim clock (virtual in
tests), and the model is evaluated lazily from it, so nothing needs a thread:

    from gatepass.sim import network as simnet
    ap = simnet.access_point(ssid="gate-net", password="pw")   # the one shared router
    ap.outage(6 * 3600_000)          # router off for 6 virtual hours from now
    ap.reboot()                      # a 30 s outage (power cycle)

Station behaviour modelled after the ESP32 port: connect() returns at once and the
association completes `ap.assoc_ms` later if the router is up (wrong password: fails
with STAT_WRONG_PASSWORD); after a drop (noticed `ap.beacon_ms` after the router goes)
the IDF retries by itself `config(reconnects=n)` times (n < 0: forever, the ESP32
default) and then gives up until connect() is called again.

Only the radio link is simulated: sockets still go through the host's loopback (a test
that wants the server unreachable during an outage also cuts its fault proxy).
"""
from __future__ import annotations

from . import clock as _clockmod

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

AUTH_OPEN = 0
AUTH_WPA2_PSK = 3


def _now_ms() -> float:
    return _clockmod.current().now_us / 1000


class AccessPoint:
    """The router every simulated gate talks to.

    assoc_ms: one association + DHCP; beacon_ms: how long a station takes to notice
    that the router is gone; outages: [start_ms, end_ms) on the sim clock (end None:
    until up() is called).
    """

    def __init__(self, ssid: str = "gatepass", password: str = "", assoc_ms: float = 1500,
                 beacon_ms: float = 3000):
        self.ssid = ssid
        self.password = password
        self.assoc_ms = assoc_ms
        self.beacon_ms = beacon_ms
        self.outages: list[list] = []

    def is_up(self, t_ms: float | None = None) -> bool:
        t = _now_ms() if t_ms is None else t_ms
        for s, e in self.outages:
            if s <= t and (e is None or t < e):
                return False
        return True

    def down(self) -> None:
        """Switch the router off now (until up())."""
        if self.is_up():
            self.outages.append([_now_ms(), None])

    def up(self) -> None:
        now = _now_ms()
        for o in self.outages:
            if o[1] is None or o[1] > now:
                if o[0] <= now:
                    o[1] = now

    def outage(self, duration_ms: float, start_ms: float | None = None) -> None:
        """Router off for duration_ms from start_ms (default now)."""
        s = _now_ms() if start_ms is None else start_ms
        self.outages.append([s, s + duration_ms])

    def reboot(self, duration_ms: float = 30000) -> None:
        self.outage(duration_ms)

    def down_after(self, t_ms: float) -> float | None:
        """Start of the first outage after t_ms (or covering it), or None."""
        best = None
        for s, e in self.outages:
            if (e is None or e > t_ms) and (best is None or max(s, t_ms) < best):
                best = max(s, t_ms)
        return best


_ap = AccessPoint()


def access_point(ssid: str | None = None, password: str | None = None, **kw) -> AccessPoint:
    """The shared simulated router; with arguments, a fresh one replaces it."""
    global _ap
    if ssid is not None or password is not None or kw:
        _ap = AccessPoint(ssid if ssid is not None else _ap.ssid,
                          password if password is not None else _ap.password, **kw)
    return _ap


class _Station:
    """Link state of one simulated board's station interface."""

    def __init__(self):
        self.active = False
        self.state = "idle"  # idle | connecting | connected | failed
        self.status = STAT_IDLE
        self.ssid = None
        self.key = ""
        self.t0 = 0.0  # start of the current association attempt
        self.tries = 0
        self.since = 0.0
        self.reconnects = -1  # ESP32 default: retry forever
        self.hostname = "esp32"
        self.connect_calls = 0
        self.history: list[tuple[float, str]] = []

    def update(self) -> None:
        now = _now_ms()
        ap = _ap
        for _ in range(100000):
            if self.state == "connecting":
                end = self.t0 + ap.assoc_ms
                if end > now:
                    return
                if self.ssid == ap.ssid and ap.is_up(self.t0) and ap.is_up(end):
                    if self.key != ap.password:
                        self.state, self.status = "failed", STAT_WRONG_PASSWORD
                        self.history.append((end, "wrong_password"))
                        return
                    self.state, self.status, self.since = "connected", STAT_GOT_IP, end
                    self.history.append((end, "connected"))
                    continue
                self.tries += 1
                if 0 <= self.reconnects < self.tries:
                    self.state, self.status = "failed", STAT_NO_AP_FOUND
                    self.history.append((end, "gave_up"))
                    return
                self.t0 = end
                continue
            if self.state == "connected":
                d = ap.down_after(self.since)
                if d is None or d + ap.beacon_ms > now:
                    return
                lost = d + ap.beacon_ms
                self.history.append((lost, "dropped"))
                self.state, self.status, self.t0, self.tries = "connecting", STAT_BEACON_TIMEOUT, lost, 0
                continue
            return


def _station() -> _Station:
    from . import machine as _machine

    w = _machine._world
    holder = w if w is not None else _default_holder
    st = getattr(holder, "_sim_station", None)
    if st is None:
        st = _Station()
        holder._sim_station = st
    return st


class _Holder:
    pass


_default_holder = _Holder()


class WLAN:
    """network.WLAN for the station interface of the current simulated board."""

    IF_STA = STA_IF
    IF_AP = AP_IF
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __init__(self, interface: int = STA_IF):
        if interface != STA_IF:
            raise ValueError("only the station interface is simulated")
        self._st = _station()

    def active(self, is_active=None):
        st = self._st
        if is_active is None:
            return st.active
        st.active = bool(is_active)
        if not st.active:
            st.state, st.status = "idle", STAT_IDLE
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        st = self._st
        if not st.active:
            raise OSError("Wifi Not Started")
        st.update()
        if ssid is not None:
            st.ssid = ssid
        st.key = key or ""
        st.state, st.status, st.t0, st.tries = "connecting", STAT_CONNECTING, _now_ms(), 0
        st.connect_calls += 1
        st.history.append((_now_ms(), "connect"))

    def disconnect(self):
        st = self._st
        st.update()
        if st.state == "connected":
            st.history.append((_now_ms(), "disconnect"))
        st.state, st.status = "idle", STAT_IDLE

    def isconnected(self) -> bool:
        st = self._st
        st.update()
        return st.active and st.state == "connected"

    def status(self, param=None):
        st = self._st
        st.update()
        if param is None:
            return st.status
        if param == "rssi":
            if st.state != "connected":
                raise OSError("not connected")
            return -61
        raise ValueError("unknown status param")

    def config(self, *args, **kw):
        st = self._st
        if args:
            name = args[0]
            if name == "reconnects":
                return st.reconnects
            if name in ("dhcp_hostname", "hostname"):
                return st.hostname
            if name == "ssid":
                return st.ssid or ""
            if name == "mac":
                return b"\x24\x0a\xc4\x00\x00\x01"
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k == "reconnects":
                st.reconnects = int(v)
            elif k in ("dhcp_hostname", "hostname"):
                st.hostname = str(v)
            elif k in ("pm", "txpower"):
                pass
            else:
                raise ValueError("unknown config param")
        return None

    def ifconfig(self, *args):
        if args:
            return None
        if self.isconnected():
            return ("192.168.4.20", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def scan(self):
        if _ap.is_up():
            return [(_ap.ssid.encode(), b"\x00\x11\x22\x33\x44\x55", 6, -58, AUTH_WPA2_PSK, False)]
        return []

    # test helpers (not part of MicroPython's API)
    def sim_history(self):
        return list(self._st.history)

    def sim_connect_calls(self) -> int:
        return self._st.connect_calls
