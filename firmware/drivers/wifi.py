"""Wi-Fi station supervisor: connects, notices drops, reconnects with backoff.

    wifi = WiFi(cfg.wifi_ssid, cfg.wifi_password)
    asyncio.create_task(wifi.run())
    wifi.is_up(); wifi.state; wifi.connects

Why supervise: `WLAN.connect()` on the ESP32 retries forever unless
`config(reconnects=n)`, and after the IDF gives up nobody calls connect() again, so a
gate that lost its router stays offline. Here: the IDF gets `reconnects` quick tries
after a drop; then this task disconnects and starts a fresh connect(), each attempt
bounded by connect_ms, with exponential backoff and jitter between attempts (capped at
max_ms, so a rebooted router is found again within that time). Nothing here blocks:
connect() returns at once on the ESP32 and all waits are asyncio sleeps.
"""
from micropython import const

from app import backoff
from app.aio import sleep_ms as _sleep_ms

DOWN = const(0)
CONNECTING = const(1)
UP = const(2)
NO_CONFIG = const(3)  # no SSID configured: stays offline, gate works alone
BACKOFF = const(4)  # an attempt failed; waiting before the next
STATE_NAMES = ("down", "connecting", "up", "no_config", "backoff")


class WiFi:
    """Station supervisor.

    ssid/password: network (ssid None or "": NO_CONFIG); wlan: a network.WLAN station
    (default network.WLAN(network.STA_IF)); reconnects: IDF retries after a drop;
    connect_ms: bound on one attempt; poll_ms: link check period; grace_ms: time the
    IDF gets to reconnect by itself after a drop; min_ms/max_ms: backoff between
    failed attempts; rand(n) -> 0..n-1 for the jitter.
    """

    def __init__(self, ssid, password="", wlan=None, reconnects=3, connect_ms=15000,
                 poll_ms=1000, grace_ms=8000, min_ms=2000, max_ms=120000, rand=None,
                 hostname=None):
        self.ssid = ssid
        self.password = password or ""
        if wlan is None and ssid:
            import network

            wlan = network.WLAN(network.STA_IF)
        self.wlan = wlan
        self.reconnects = reconnects
        self.connect_ms = connect_ms
        self.poll_ms = poll_ms
        self.grace_ms = grace_ms
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.rand = rand if rand is not None else backoff.default_rand
        self.hostname = hostname
        self.state = DOWN if ssid else NO_CONFIG
        self.connects = 0  # successful connections (the uplink retries at once on a change)
        self.drops = 0
        self.attempts = 0  # connect attempts since the last success
        self.last_status = None  # wlan.status() after the last failed attempt
        self._stop = False

    def is_up(self):
        return self.state == UP

    def summary(self):
        return {"state": STATE_NAMES[self.state], "connects": self.connects,
                "drops": self.drops, "attempts": self.attempts,
                "status": self.last_status}

    def rssi(self):
        """Signal strength in dBm while connected, else None (for the heartbeat)."""
        w = self.wlan
        if w is None or self.state != UP:
            return None
        try:
            v = w.status("rssi")
        except (OSError, ValueError, TypeError):
            return None
        return v if isinstance(v, int) else None

    def stop(self):
        self._stop = True

    def _connected(self):
        w = self.wlan
        if w is None:
            return False
        try:
            return bool(w.isconnected())
        except OSError:
            return False

    def _status(self):
        w = self.wlan
        if w is None:
            return None
        try:
            return w.status()
        except (OSError, ValueError, TypeError):
            return None

    def _disconnect(self):
        w = self.wlan
        if w is None:
            return
        try:
            w.disconnect()
        except OSError:
            pass

    def _start(self):
        """Begin one connect attempt (returns at once). False if the stack refused."""
        w = self.wlan
        if w is None:
            return False
        try:
            w.active(True)
            try:
                w.config(reconnects=self.reconnects)
                if self.hostname:
                    w.config(dhcp_hostname=self.hostname)
            except (OSError, ValueError, TypeError):
                pass  # an old port without these options still connects
            self._disconnect()  # stop a previous attempt the IDF may still run
            w.connect(self.ssid, self.password)
            return True
        except OSError:  # "Wifi Internal Error" and friends: retry after a backoff
            return False

    def backoff_ms(self):
        """Wait before the next attempt after `attempts` failures (jittered, ms): app/backoff.py."""
        return backoff.jittered(self.min_ms, self.max_ms, self.attempts, self.rand)

    async def _wait_connected(self, ms):
        waited = 0
        step = 250 if self.poll_ms > 250 else self.poll_ms
        while waited < ms and not self._stop:
            if self._connected():
                return True
            await _sleep_ms(step)
            waited += step
        return self._connected()

    async def run(self):
        if self.state == NO_CONFIG or self.wlan is None:
            return
        while not self._stop:
            if self._connected():
                if self.state != UP:
                    self.state = UP
                    self.connects += 1
                    self.attempts = 0
                await _sleep_ms(self.poll_ms)
                continue
            if self.state == UP:
                # dropped: the IDF tries `reconnects` times by itself first
                self.drops += 1
                self.state = DOWN
                if await self._wait_connected(self.grace_ms):
                    continue
            self.state = CONNECTING
            self.attempts += 1
            if self._start() and await self._wait_connected(self.connect_ms):
                continue
            self.last_status = self._status()
            self._disconnect()  # do not leave an endless IDF retry behind
            self.state = BACKOFF
            await _sleep_ms(self.backoff_ms())
