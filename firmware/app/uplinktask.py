"""The uplink asyncio task: Wi-Fi up -> signed requests -> answers -> cursor, clock, bundle,
the other gates' passages.

    t = uplinktask.build(cfg, log, clock, store, wifi, idle=gate.idle)  # main.py; then t.run() as a task

Protocol decisions live in app/uplink.py (testable without I/O); this module only
waits, sends and sleeps. It never blocks the gate for long: the DNS lookup and the
bundle's signature check wait until `idle()` says no passage is in progress, every
exchange is bounded by the client's timeout, and waits are asyncio sleeps.
"""
import asyncio
import time

from micropython import const

from app import httpc, peers, uplink
from app.aio import sleep_ms

ST_OFF = const(0)  # no server configured
ST_NO_WIFI = const(1)
ST_OK = const(2)  # last exchange fine, nothing much pending
ST_BACKLOG = const(3)  # uploading a backlog
ST_RETRY = const(4)  # failing: server down, timeouts (events kept)
ST_AUTH = const(5)  # server refuses our credentials or disabled us (events kept)
STATE_NAMES = ("off", "no_wifi", "ok", "backlog", "retry", "auth")

_POLL_MS = const(1000)
_IDLE_WAIT_MS = const(30000)  # longest wait for an idle gate before a blocking step
_BUG_MS = const(5000)  # shortest wait after a step raised (then the failure backoff)


class _Mono:
    """Monotonic ms since start from wrapping ticks (ticks_ms wraps after ~12 days)."""

    def __init__(self):
        self._t = time.ticks_ms()
        self.ms = 0

    def now(self):
        t = time.ticks_ms()
        self.ms += time.ticks_diff(t, self._t)
        self._t = t
        return self.ms


class UplinkTask:
    """Runs an uplink.Uplink over an httpc.Client.

    store: bundle.Store (or None); wifi: object with is_up() and a `connects` counter
    (drivers/wifi.WiFi) or None (always up); idle: callable -> True when no passage
    is in progress (None: always idle); poll_ms: how often new events are looked for.
    """

    def __init__(self, up, http, store=None, wifi=None, idle=None, poll_ms=_POLL_MS, peers=None,
                 ota=None):
        self.up = up
        self.ota = ota  # app.ota.Updater: firmware releases (None: no firmware key configured)
        self.http = http
        self.store = store
        self.peers = peers
        if peers is not None:
            up.peer_cursor = peers.cursor
        self.wifi = wifi
        self.idle = idle
        self.poll_ms = poll_ms
        self.state = ST_NO_WIFI
        self.net_fails = 0
        self.exchanges = 0
        self._mono = _Mono()
        self._stop = False
        self.bug_ms = _BUG_MS  # shortest wait after a step raised

    def summary(self):
        """Short status for the indicator / technician (no secrets)."""
        up = self.up
        return {"state": STATE_NAMES[self.state], "backlog": up.log.pending(),
                "last": uplink.OUTCOME_NAMES[up.last] if up.last >= 0 else "",
                "code": up.last_code, "bundle": up.bundle_version,
                "server_bundle": up.server_version, "exchanges": self.exchanges}

    def stop(self):
        self._stop = True

    def _wifi_up(self):
        return self.wifi is None or self.wifi.is_up()

    def _connects(self):
        return getattr(self.wifi, "connects", 0) if self.wifi is not None else 0

    async def _wait_idle(self):
        waited = 0
        while self.idle is not None and not self.idle() and waited < _IDLE_WAIT_MS:
            await sleep_ms(100)
            waited += 100

    async def _sleep(self, ms):
        """Sleep ms, cut short when Wi-Fi comes back after a drop (retry at once)."""
        c0 = self._connects()
        while ms > 0 and not self._stop:
            step = ms if ms < self.poll_ms else self.poll_ms
            await sleep_ms(step)
            ms -= step
            if self._connects() != c0 and self._wifi_up():
                self.up.backoff.reset()
                return

    async def step(self):
        """One round: send what is due (or wait). Returns the outcome, or None."""
        up = self.up
        if not self._wifi_up():
            self.state = ST_NO_WIFI
            self.http.close()
            await self._sleep(self.poll_ms)
            return None
        if not self.http.resolved():
            await self._wait_idle()
            try:
                self.http.resolve()
            except OSError:
                out = up.failed()
                self.state = ST_RETRY
                await self._sleep(up.delay_ms(out))
                return out
        now = self._mono.now()
        req = up.next_request(now)
        ota = self.ota
        if ota is not None:
            ota.offer(up.release_offer)
            if req is None and ota.due(now):
                # only when nothing else is due: events, bundles and heartbeats go first,
                # and between two files the gate has the CPU (the reads yield to it)
                await self._wait_idle()
                req = up.release_request(ota.next_path())
        if req is None:
            self.http.close()  # a connection is kept only through a burst of requests
            w = up.idle_ms(now)
            await self._sleep(w if w < self.poll_ms else self.poll_ms)
            return None
        t0 = time.ticks_ms()
        mb = 2048
        sink = None
        store = self.store
        if req.kind == uplink.REQ_BUNDLE:
            from app import bundle

            mb = bundle.MAX_BYTES
            if store is not None:
                mb = store.max_bytes
                sink = store.sink()  # streamed to flash: RAM independent of its size
        elif req.kind == uplink.REQ_PASSAGES:
            mb = peers.MAX_BYTES
        elif req.kind == uplink.REQ_RELEASE and ota is not None:
            mb = ota.max_body()
            if ota.want_file():
                sink = ota.file_sink(up.mac, req.sig)  # streamed to flash, hashed on the way
        try:
            try:
                status, hdrs, body = await self.http.request(req.method, req.path, req.headers,
                                                             req.parts, mb, sink)
            finally:
                if sink is not None:
                    sink.close()
        except httpc.HttpError:
            out = up.failed()
            if req.kind == uplink.REQ_RELEASE and ota is not None:
                ota.failed_exchange()
        else:
            rtt = time.ticks_diff(time.ticks_ms(), t0)
            if req.kind == uplink.REQ_RELEASE and ota is not None:
                out = await self._release_answer(ota, req, status, hdrs, body, sink, rtt)
            else:
                if sink is not None and store is not None:
                    body = store.download()
                    if not 200 <= status < 300:
                        body = body.small()  # an error answer: small JSON
                out = up.handle(req, status, hdrs, body, rtt, self._mono.now())
                if self.peers is not None and up.peer_cursor < self.peers.cursor:
                    self.peers.reset()  # the uplink went back to 0: the server's ids went back
                if out == uplink.OK and req.kind == uplink.REQ_BUNDLE:
                    await self._wait_idle()  # the ES256 check takes a while on the device
                    code, v = (1, 0)
                    if store is not None:
                        code, v = store.apply_file()
                    up.bundle_result(code == 0, v, self._mono.now())
                elif sink is not None and store is not None:
                    store.discard()
                elif out == uplink.OK and req.kind == uplink.REQ_PASSAGES and self.peers is not None:
                    await self._wait_idle()  # flash writes: not while someone is at the gate
                    try:
                        n = self.peers.apply(body)
                    except OSError as e:  # anti-passback file damaged: retry later, do not spin
                        _report(e)
                        n = -1
                    up.passages_result(n, self.peers.cursor, self._mono.now())
        self.exchanges += 1
        if out == uplink.NET:
            self.net_fails += 1
            if self.net_fails % 3 == 0:
                self.http.forget()  # look the name up again: the server may have moved
        else:
            self.net_fails = 0
        if out == uplink.OK or out == uplink.STALE:
            self.state = ST_BACKLOG if up.log.pending() >= up.batch else ST_OK
        elif out == uplink.AUTH or out == uplink.DISABLED:
            self.state = ST_AUTH
        else:
            self.state = ST_RETRY
        d = up.delay_ms(out)
        if d:
            self.http.close()  # kept only for back-to-back requests
            await self._sleep(d)
        return out

    async def _release_answer(self, ota, req, status, hdrs, body, sink, rtt):
        """A release manifest or file answer: checked (HMAC of the streamed body), then
        judged by the updater (app/ota.py) once the gate is idle."""
        up = self.up
        ok2xx = 200 <= status < 300
        if sink is not None:
            body = sink if ok2xx else sink.small()  # an error answer: its small JSON
        out = up.handle(req, status, hdrs, body, rtt, self._mono.now())
        if out != uplink.OK:
            ota.failed_exchange()
            return out
        await self._wait_idle()  # the ES256 check and the renames: not during a passage
        if sink is not None:
            ota.on_file(sink, self._mono.now())
        else:
            # the manifest's ES256 check builds a key table: free the TLS session's
            # buffers first (the next file opens a new connection)
            self.http.close()
            ota.on_manifest(body, self._mono.now())
        return out

    async def run(self):
        while not self._stop:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the uplink must outlive any bug: events stay on flash
                self.state = ST_RETRY
                _report(e)
                # not held through the wait: the TLS session's buffers are RAM the gate
                # needs, and a step that fails the same way every time (after an answer
                # the server already took) must not talk to it every few seconds forever
                self.http.close()
                d = self.up.backoff.next()
                await self._sleep(d if d > self.bug_ms else self.bug_ms)
        self.http.close()


def _report(e):
    import sys

    pe = getattr(sys, "print_exception", None)
    if pe is not None:
        pe(e)
    else:
        print("uplink error:", repr(e))


def build(cfg, log, clock, store=None, wifi=None, idle=None, firmware="", peer_sync=None, ota=None,
          **kw):
    """UplinkTask from a config.Config (None when the config has no server URL).
    peer_sync: app.peers.Peers (None: the other gates' passages are not fetched);
    kw go to uplink.Uplink (batch, linger_ms, status_ms, min_ms, max_ms, ...)."""
    if not cfg.server_url:
        return None
    http = httpc.Client(cfg.server_url, cfg.server_ca, cfg.allow_http)
    if "batch" not in kw:
        kw["batch"] = log.batch  # one read buffer's worth: fewest header bytes per event
    up = uplink.Uplink(cfg.device_id, cfg.secret, log, clock,
                       store.version if store is not None else 0, firmware=firmware, **kw)
    # no bundle key configured: every bundle would be refused (and alarm) - do not fetch
    up.fetch_bundles = store is not None and bool(cfg.bundle_keys)
    return UplinkTask(up, http, store, wifi, idle, peers=peer_sync, ota=ota)
