"""gatepass device entry point: build the gate from /board.json + /config.json and run it.

    app = setup(root="/")       # synchronous: files, devices, config, log, boot events
    if app.status == "run":
        asyncio.run(app.serve())  # gate, relay, door, indicator, housekeeping, watchdog

On the device MicroPython runs boot.py, then this file as __main__ (run() below). Under
CPython the simulator calls setup(root=<temporary dir>, wall=<virtual clock>) and runs
app.serve() on its own event loop: every firmware path is root + name, and root is "/"
on the device.

Order at boot, each step failing safe:
 1. /safemode flag file -> safe mode (relay held locked if the profile allows, REPL free)
 2. /board.json loaded and validated -> on error the relay alone is built when its
    section is sound (locked), the error is printed; no app
 3. the relay (locked, never pulses) and the fire-alarm input (profile "fire": its pin
    interrupt releases the door while active, in every later state, safe mode and
    errors included)
 4. safe-mode button (profile "safe_button": {"pin", "active_low", "window_ms"}) pressed
    during the first window_ms -> safe mode
 5. the other devices built; a missing sensor/scanner/display is a fault entry, not a
    crash
 6. /config.json (and an applied bundle) validated -> on error "Config error" + field on
    the indicator, door locked, no app, error printed and kept in app.error
 7. clock (never behind the log), event log, lists, anti-passback, gate; K_BOOT,
    K_CONFIG when the config changed, K_SENSOR_FAULT per failed device
 8. watchdog started; fed only while every task lives and the gate loop beats
App.setup() runs them as seven small methods: step_safe_mode (1), step_profile (2),
step_devices (3-5), step_config (6), step_gate (7: clock, log, gate), step_bundle (the
stored bundle; later ones built in full before they are stored, all or nothing) and
step_uplink. Any exception that escapes, in setup() (a MemoryError included) or serve():
relay.safe() (a fire release still wins), K_ERROR logged once the log exists, and the
watchdog (started if setup() failed before it existed, never fed) resets the board. A
MemoryError while this file's own imports load the app (before any of that exists):
_import_failed() locks the door from the profile, prints why and resets after
IMPORT_RESET_MS.
"""
import gc
import time

import machine
from micropython import const

BOARD = "board.json"
IMPORT_RESET_MS = const(5000)  # pause before the reset after the app failed to load


def path(root, *names):
    """root + names joined with '/': path("/", "data") == "/data"."""
    base = root.rstrip("/")
    return base + "/" + "/".join(names)


def _relay_only(raw):
    """Build the relay alone (locked) from a profile that failed elsewhere, when its
    relay section is sound; None otherwise."""
    if not isinstance(raw, dict):
        return None
    from app import board

    for p in board.validate(raw):
        if p[1].startswith("relay") or p[1] in ("chip", "psram", "profile"):
            return None
    try:
        from drivers import relay as _relay

        r = raw["relay"]
        relay = _relay.Relay(r["pin"], r["lock"], r["active_high"], r["pulse_ms"])
    except Exception:  # noqa: BLE001 - best effort on an already failing boot
        return None
    _fire_only(raw, relay)
    return relay


def _fire_only(raw, relay):
    """The fire-alarm input on a boot that stops before the app: it still releases the
    door (from its pin interrupt), only nothing logs it."""
    from app import board

    for p in board.validate(raw):
        if p[1].startswith("fire"):
            return None
    try:
        from drivers import fire as _fire

        return _fire.from_profile(raw, relay)
    except Exception:  # noqa: BLE001 - best effort on an already failing boot
        return None


def _import_failed(e, root="/"):
    """The app's modules did not load: a MemoryError in the imports below (a fragmented
    heap on a ~100 KB board). No setup() ran, so nothing holds the door: lock it from the
    profile's relay section (built at its locked level, the pin keeps it), say why on the
    console, and reset after a pause (time to read it, or to break into the REPL): the
    next boot starts on an empty heap, and boot.py counts it, so an OTA release that
    cannot load is rolled back. Only `machine`, `time`, `gc` and json are used here;
    app.board and drivers.relay are loaded again after a collection."""
    global _SAFE_RELAY
    gc.collect()  # the modules loaded so far are garbage now
    door = "door locked"
    try:
        import json

        with open(path(root, BOARD)) as f:
            raw = json.loads(f.read())
        _SAFE_RELAY = _relay_only(raw)
        if _SAFE_RELAY is None:
            door = "door relay not built (profile)"
    except Exception as x:  # noqa: BLE001 - MemoryError included: the reset still comes
        door = "door relay not built (%r)" % x
    try:
        print("gatepass: out of memory loading the app (%r): %s, reset in %d s"
              % (e, door, IMPORT_RESET_MS // 1000))
    except Exception:  # noqa: BLE001 - not even the line fits: the reset still comes
        pass
    time.sleep_ms(IMPORT_RESET_MS)
    machine.reset()


_SAFE_RELAY = None
try:
    import asyncio
    import binascii
    import json
    import os

    from app import board, eventlog, reasons, record
    from app import bundle as _bundle
    from app import clock as _clock
    from app import config as _config
    from app import gate as _gate
    from app import lists as _lists
    from app import settings as _st
    from app import visits as _visits
    from app.aio import sleep_ms
    from app.fsutil import write_atomic
except MemoryError as _e:
    _import_failed(_e)
    raise  # where machine.reset() returns (never on a board)

CONFIG = "config.json"
GLYPHS = "glyphs.bin"  # the Chinese display font (gatepass deploy builds it)
VOICE = "voice.bin"  # the voice module's prompts in GB2312 (gatepass deploy builds it)
SAFE_FLAG = "safemode"
DATA = "data"  # log/ (segments), clock, revoked.bin, quarantine.bin, passback.bin,
#                bundle.cbor (app/bundle.py), config.crc

WDT_MS = const(8000)  # watchdog timeout
FEED_MS = const(1000)  # supervisor period
CONFIRM_FEEDS = const(300)  # an OTA trial set is kept once fed this often (5 min healthy)
STALL_MS = const(15000)  # gate loop silent this long = unhealthy (a passage is < 8 s)
HOUSEKEEP_MS = const(10000)
CLOCK_PERSIST_S = const(600)

RUN = "run"
SAFE_MODE = "safe_mode"
PROFILE_ERROR = "profile_error"
CONFIG_ERROR = "config_error"
STOPPED = "stopped"
CRASHED = "crashed"


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _mkdir(p):
    try:
        os.mkdir(p)
    except OSError:
        pass


def _button_held(profile):
    """The safe-mode button, sampled every 10 ms for window_ms after boot (hold it after
    reset starts: GPIO0 held *at* reset selects the ROM bootloader instead)."""
    b = profile.get("safe_button")
    if not isinstance(b, dict) or not isinstance(b.get("pin"), int):
        return False
    active_low = b.get("active_low", True)
    window = b.get("window_ms", 1000)
    if not isinstance(window, int) or not 0 < window <= 5000:
        window = 1000
    if active_low:
        pin = machine.Pin(b["pin"], machine.Pin.IN, machine.Pin.PULL_UP)
    else:
        pin = machine.Pin(b["pin"], machine.Pin.IN)
    pressed_level = 0 if active_low else 1
    run = 0
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < window:
        run = run + 1 if pin.value() == pressed_level else 0
        if run >= 3:  # 30 ms debounce
            return True
        time.sleep_ms(10)
    return False


def _rtc_set(port_s):
    t = time.gmtime(port_s)
    machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))


class App:
    """Everything main built; `status` says how far it got, `error` why it stopped."""

    def __init__(self, root):
        self.root = root
        self.status = None
        self.error = None
        self.profile = None
        self.dev = None
        self.relay = None
        self.cfg = None
        self.clock = None
        self.log = None
        self.gate = None
        self.wdt = None
        self.store = None
        self._wall = None  # setup() arguments and what one step hands the next
        self._cause = None
        self._wifi = "auto"
        self._settings = None
        self._keys = None
        self._text = None
        self._plan = None
        self.wifi = None
        self.uplink = None
        self.remote = None  # app.remote.Remote when a server is configured
        self.ota = None  # app.ota.Updater when the config trusts a firmware key
        self.confirm_feeds = CONFIRM_FEEDS
        self.tasks = []
        self.critical = 0  # tasks[:critical] must never end
        self.dead = None  # name of the task that died
        self.feeds = 0

    def _stop(self, status, msg):
        self.status = status
        self.error = msg
        try:
            print("gatepass: %s: %s" % (status, msg))
        except Exception:  # noqa: BLE001
            pass
        return self

    # ---- running

    def healthy(self):
        if self.dead is not None:
            return False
        for t in self.tasks[:self.critical]:  # Wi-Fi/uplink may end (no network configured)
            if t.done():
                return False
        g = self.gate
        return g is not None and time.ticks_diff(time.ticks_ms(), g.beat_ms) < STALL_MS

    def fatal(self, name, exc):
        """A task died or the loop broke: lock, log, stop feeding the watchdog."""
        if self.relay is not None:
            self.relay.safe()
        if self.dead is None:
            self.dead = name
            try:
                self.error = "%s: %r" % (name, exc)
            except Exception:  # noqa: BLE001 - e.g. no heap left to format it
                self.error = name
            g = self.gate
            if g is not None:
                g.last_error = exc
                g.log_event(record.K_ERROR, aux=reasons.INTERNAL_ERROR)
                try:
                    g.show(_gate.SHOW_FAULT, reasons.message(reasons.INTERNAL_ERROR))
                except Exception:  # noqa: BLE001
                    pass
            elif self.log is not None:  # setup() failed after the log, before the gate
                try:
                    self.log.append(record.K_ERROR, reasons.INTERNAL_ERROR, 0, record.NO_ROLE,
                                    None, record.NO_TEMP, record.NO_TEMP, record.NO_TEMP,
                                    reasons.INTERNAL_ERROR)
                except Exception:  # noqa: BLE001 - a broken log must not stop the handler
                    pass
            try:
                print("gatepass: %s died: %r; watchdog reset follows" % (name, exc))
            except Exception:  # noqa: BLE001
                pass

    async def guard(self, name, coro):
        try:
            await coro
        except Exception as e:  # noqa: BLE001 - the supervisor decides what happens next
            self.fatal(name, e)

    def _loop_error(self, loop, context):
        # an exception nobody awaited; CPython also reports mere warnings here
        exc = context.get("exception")
        if exc is not None:
            self.fatal("loop", exc)
        else:
            print("gatepass: asyncio:", context.get("message"))

    async def supervise(self):
        """Feed the watchdog only while everything is healthy; a dead or stalled task
        means no more feeding, and the watchdog resets the board."""
        while True:
            await sleep_ms(FEED_MS)
            rc = self.remote
            if rc is not None and rc.reboot_due():
                self.reboot("remote command")
            if self._switch_due():
                self.reboot("release staged")
            if self.healthy():
                if self.wdt is not None:
                    self.wdt.feed()
                    self.feeds += 1
                    if self.feeds == self.confirm_feeds and _ota_confirm(self.root, self.ota):
                        if self.uplink is not None:
                            self.uplink.up.report_soon()  # staff see "confirmed" now
            elif self.dead is None:
                self.fatal("gate" if self.tasks and not self.tasks[0].done() else "task",
                           "stalled or stopped")

    def _switch_due(self):
        """A release is staged and marked: reset into it at an idle moment, nobody at the
        gate (no passage, the relay locked) and the door closed."""
        u = self.ota
        if u is None or not u.reset_wanted:
            return False
        g = self.gate
        dev = self.dev
        if g is None or g.state != _gate.IDLE or (self.relay is not None and not self.relay.locked):
            return False
        door = dev.door if dev is not None else None
        return door is None or not door.is_open

    async def housekeeping(self):
        while True:
            await sleep_ms(HOUSEKEEP_MS)
            c = self.clock
            if c is not None:
                c.persist()  # writes at most every CLOCK_PERSIST_S

    async def serve(self, wdt=True):
        """All tasks; returns only if the supervisor is cancelled."""
        loop = asyncio.get_event_loop()
        loop.set_exception_handler(self._loop_error)
        if wdt and self.wdt is None:
            self.wdt = machine.WDT(timeout=WDT_MS)
        g = self.gate
        dev = self.dev
        if g is None or dev is None:
            raise ValueError("serve() before a successful setup()")
        self.tasks = [
            asyncio.create_task(self.guard("gate", g.run())),
            asyncio.create_task(self.guard("relay", dev.relay.run())),
            asyncio.create_task(self.guard("door", dev.door.run(g.on_door))),
            asyncio.create_task(self.guard("indicator", dev.indicator.run(20))),
            asyncio.create_task(self.guard("housekeeping", self.housekeeping())),
        ]
        self.critical = len(self.tasks)
        run_wifi = getattr(self.wifi, "run", None)  # None: no Wi-Fi, or a network always up
        if run_wifi is not None:
            self.tasks.append(asyncio.create_task(self.guard("wifi", run_wifi())))
        up = self.uplink
        if up is not None:
            self.tasks.append(asyncio.create_task(self.guard("uplink", up.run())))
        fire = dev.fire
        if fire is not None:  # logging only: the pin interrupt releases the door
            from app import alarms

            name = str(self.cfg.gate)[:16] if self.cfg is not None else ""
            self.tasks.append(asyncio.create_task(
                self.guard("fire", fire.run(alarms.on_fire(g, name)))))
        v = dev.voice
        if v is not None and v.prompts:
            self.tasks.append(asyncio.create_task(self.guard("voice", v.run())))
        await self.supervise()

    def stop(self):
        """Ctrl-C from a technician: door locked; a timer keeps feeding the watchdog so
        the REPL stays usable until the next reset (the ESP32 WDT cannot be stopped)."""
        if self.relay is not None:
            self.relay.safe()
        self.status = STOPPED
        wdt = self.wdt
        if wdt is not None:
            t = machine.Timer(0)
            t.init(mode=machine.Timer.PERIODIC, period=FEED_MS, callback=lambda _t: wdt.feed())
        print("gatepass: stopped, door locked (create /safemode to stay out of the app)")

    def reboot(self, why):
        """A clean reset asked for (remote command): door locked, reset now."""
        if self.relay is not None:
            self.relay.safe()
        try:
            print("gatepass: reboot (%s)" % why)
        except Exception:  # noqa: BLE001
            pass
        machine.reset()

    def crash(self, exc):
        """The global exception handler (setup() and serve()): door locked, error logged,
        and the watchdog started if setup() failed before it existed: it is never fed, so
        it resets the board (WDT_MS later) whatever state the failure left."""
        self.status = CRASHED
        self.fatal("main", exc)
        if self.wdt is None:
            try:
                self.wdt = machine.WDT(timeout=WDT_MS)
            except Exception:  # noqa: BLE001 - no watchdog to be had: reset at once
                machine.reset()

    def setup(self, wall=None, reset_cause=None, wifi="auto"):
        """See setup() below: the seven steps of the module docstring, in order, each a
        small method that either builds its part or stops the app (status set, door
        locked). Any exception (a MemoryError included) goes to the global handler:
        door locked, K_ERROR logged when the log exists, the watchdog resets the board."""
        self._wall = wall
        self._cause = reset_cause
        self._wifi = wifi
        try:
            for step in (self.step_safe_mode, self.step_profile, self.step_devices,
                         self.step_config, self.step_gate, self.step_bundle, self.step_uplink):
                step()
                if self.status is not None:
                    return self
        except Exception as e:  # noqa: BLE001 - the global handler covers setup() too
            self.crash(e)
            return self
        self.status = RUN
        return self

    # ---- the seven steps of setup()

    def step_safe_mode(self):
        """1. /safemode flag file -> safe mode, the relay alone held locked."""
        if not _exists(path(self.root, SAFE_FLAG)):
            return
        raw = None
        try:
            with open(path(self.root, BOARD)) as f:
                raw = json.loads(f.read())
        except (OSError, ValueError):
            pass
        self.relay = _relay_only(raw)
        self._stop(SAFE_MODE, "/%s exists: app not started (delete it to run)" % SAFE_FLAG)

    def step_profile(self):
        """2. /board.json loaded and validated (defaults filled in)."""
        raw = None
        try:
            with open(path(self.root, BOARD)) as f:
                raw = json.loads(f.read())
            self.profile = board.check(raw)
        except OSError:
            self._stop(PROFILE_ERROR, "/%s missing (gatepass deploy --board ...)" % BOARD)
        except ValueError as e:
            self.relay = _relay_only(raw)
            self._stop(PROFILE_ERROR, str(e))

    def step_devices(self):
        """3-5. relay (locked) and fire input first, the safe-mode button window, then
        the other devices (a missing sensor/scanner/display is a fault entry)."""
        from drivers import devices

        profile = self.profile
        # the relay (locked) and the fire-alarm input before the button window: an alarm
        # releases the door from the first milliseconds of a boot
        try:
            core = devices.lock_core(profile)
        except Exception as e:  # noqa: BLE001 - e.g. a pin the port refuses
            self.relay = _relay_only(profile)
            return self._stop(PROFILE_ERROR, "building devices: %r" % e)
        self.relay = core[0]
        if _button_held(profile):
            return self._stop(SAFE_MODE, "safe-mode button held: app not started")
        try:
            dev = devices.build(profile, True, core)
        except Exception as e:  # noqa: BLE001 - e.g. a pin the port refuses
            return self._stop(PROFILE_ERROR, "building devices: %r" % e)
        self.dev = dev
        self.relay = dev.relay
        _mkdir(path(self.root, DATA))

    def step_config(self):
        """6. /config.json validated -> "Config error" + field on the indicator otherwise."""
        dev = _built(self.dev)
        ind = dev.indicator
        try:
            with open(path(self.root, CONFIG), "rb") as f:
                text = f.read()
        except OSError:
            _show_error(ind, "Config error", "config.json missing")
            return self._stop(CONFIG_ERROR, "/%s missing (run `gatepass provision`)" % CONFIG)
        try:
            cfg = _config.parse(text.decode())
            self._settings = _st.Settings(cfg.settings)
            self._keys = _keys(cfg.issuer_keys.items())
        except (ValueError, UnicodeError) as e:
            msg = str(e)
            _show_error(ind, "Config error", msg)
            return self._stop(CONFIG_ERROR, msg)
        self.cfg = cfg
        self._text = text
        if cfg.lang == "zh" and ind is not None:
            from drivers import glyphs

            ind.set_lang("zh", glyphs.load(path(self.root, GLYPHS)))  # no file: English stays
        dv = dev.voice
        if dv is not None:
            from drivers import voice as _voice

            dv.prompts = _voice.load_prompts(path(self.root, VOICE))  # none: silent

    def step_gate(self):
        """7. clock (never behind the log), event log (geometry from the flash plan),
        lists, anti-passback, gate; K_BOOT and K_SENSOR_FAULT per failed device; the RTC
        set from the clock's floor."""
        dev = _built(self.dev)
        cfg = _built(self.cfg)
        s = _built(self._settings)
        data = path(self.root, DATA)
        clk = _clock.Clock(data + "/clock", now_fn=self._wall, set_fn=_rtc_set,
                           persist_s=CLOCK_PERSIST_S)
        self.clock = clk
        fp = _flash_plan(data)  # log geometry and largest bundle from the filesystem's size
        self._plan = fp
        self.log = eventlog.EventLog(data + "/log", clk, seg_records=fp["seg_records"],
                                     max_segments=fp["max_segments"], full_policy=s.log_full,
                                     near_pct=int(s.log_near_full_pct), batch=64)  # uplink: 64/POST
        sensor = dev.sensor
        g = _gate.Gate(cfg.direction, cfg.community, self._keys, s, self.log, clk,
                       _lists.Lists(data), _lists.Passback(data + "/passback.bin"), dev.relay,
                       dev.indicator, dev.scanner, sensor.read if sensor is not None else None,
                       dev.door, _visits.Visits(data + "/visits.bin"))
        self.gate = g
        self._keys = self._settings = None
        g.voice = dev.voice
        sc = dev.scanner
        if _built(self.profile)["scanner"].get("mode") == "command" and sc is not None:
            g.use_trigger(lambda: sc.trigger(False))
        cause = machine.reset_cause() if self._cause is None else self._cause
        g.boot(cause, dev.faults)
        # after a power-on the RTC says 2000: put the floor time (never behind the log) in
        # it, so TLS certificate dates check out before the first server answer
        try:
            clk.sync_port()
        except Exception as e:  # noqa: BLE001 - an RTC that cannot be set is no reason to stop
            print("gatepass: RTC not set (%r)" % e)

    def step_bundle(self):
        """The applied bundle (lists already on flash) overrides the config's settings
        and keys; later bundles are built in full before they are stored (all or
        nothing, Store.on_prepare). K_CONFIG when the config changed."""
        g = _built(self.gate)
        cfg = _built(self.cfg)
        data = path(self.root, DATA)
        store = _bundle.Store(data, cfg.bundle_keys, cfg.community, self.log, _built(self._plan)["bundle"])
        self.store = store
        try:
            b = store.load()
            if b is not None:
                g.prepare_bundle(b)()
        except MemoryError:
            raise  # not the bundle's fault: the global handler resets and tries again
        except Exception as e:  # noqa: BLE001 - a bundle this firmware cannot use
            g.last_error = e
            g.log_event(record.K_ERROR, record.F_URGENT, reasons.MALFORMED)
            print("gatepass: stored bundle not applied (%r): config settings in force" % e)
        store.on_prepare.append(g.prepare_bundle)
        crc, changed = _config_changed(data, self._text)
        self._text = None
        if changed:
            g.log_event(record.K_CONFIG, aux=crc & 0xFFFF)

    def step_uplink(self):
        """The uplink task (and Wi-Fi) when the config names a server; health reports;
        "ready" on the display."""
        cfg = _built(self.cfg)
        g = _built(self.gate)
        dev = _built(self.dev)
        if cfg.server_url:
            from app import uplinktask

            wifi = self._wifi
            if wifi == "auto":
                from drivers.wifi import WiFi

                wifi = WiFi(cfg.wifi_ssid, cfg.wifi_password)
            self.wifi = wifi
            from app import peers as _peers

            # the other gates' passages keep anti-passback right across entrance and exit
            sync = _peers.Peers(path(self.root, DATA) + "/peers.cur", g.note_passage)
            fw_keys = getattr(cfg, "firmware_keys", None)
            if fw_keys:
                self.ota = _updater(self.root, cfg, fw_keys, self.log, self._plan)
                if self.ota is not None:
                    self.ota.tier = _built(self.profile).get("firmware", "")
                self.confirm_feeds = cfg.ota_confirm_s * 1000 // FEED_MS
            firmware = _firmware_version(self.root)
            if self.ota is not None and self.ota.running:
                firmware = "%s r%d" % (firmware[:20], self.ota.running)  # the release it runs
            self.uplink = uplinktask.build(cfg, self.log, self.clock, self.store, wifi,
                                           idle=g.idle, firmware=firmware.strip(),
                                           peer_sync=sync, ota=self.ota)
            if self.uplink is not None:
                from app import health, remote

                self.uplink.up.health = health.Health(
                    g, dev.faults, wifi, dev.fire, dev.relay, health.release_state(self.root),
                    lambda: self.error, self.ota).report
                # staff commands in the signed heartbeat answers; a persisted lockdown or
                # emergency release is back in force from here on
                rc = remote.Remote(cfg.device_id, cfg.secret, self.clock,
                                   path(self.root, DATA) + "/remote.bin", self.log, dev.relay, g)
                _built(self.store).on_apply.append(rc.reapply)
                self.uplink.up.commands = rc
                self.remote = rc
        if not dev.faults:
            dev.indicator.show(_gate.SHOW_BUSY, str(cfg.gate)[:16], "ready")


def _built(part):
    """`part` as an earlier setup step built it (App.setup() runs a step only after the
    ones before it succeeded): None here is a bug in that order, for the global handler."""
    if part is None:
        raise RuntimeError("setup step run before the one that builds its input")
    return part


def _flash_plan(data):
    """app.flash's plan (made at first boot from os.statvfs); a port without statvfs, or
    a filesystem too small for a plan, gets the old fixed sizes (printed)."""
    from app import flash

    try:
        return flash.load_or_make(data)
    except (OSError, ValueError, AttributeError) as e:
        print("gatepass: no flash plan (%r): fixed sizes" % e)
        return {"seg_records": 2000, "max_segments": 31, "bundle": _bundle.MAX_BYTES}


def _show_error(ind, title, msg):
    if ind is None:
        return
    field = msg.split(":")[0] if ":" in msg else msg
    try:
        ind.show(_gate.SHOW_FAULT, title, field[:16])
    except Exception:  # noqa: BLE001 - a broken display must not hide the error further
        pass


def _config_changed(data, text):
    """True (and remembered) when the config text differs from the last boot's."""
    crc = binascii.crc32(text) & 0xFFFFFFFF
    p = data + "/config.crc"
    try:
        with open(p, "rb") as f:
            old = f.read()
        if len(old) == 4 and int.from_bytes(old, "little") == crc:
            return crc, False
    except OSError:
        pass
    write_atomic(p, (crc.to_bytes(4, "little"),))
    return crc, True


def _ota_confirm(root, updater=None):
    """The app was healthy confirm_feeds watchdog periods (config ota.confirm_s, 5
    minutes by default): an OTA trial set becomes the active one (otaboot.py; nothing
    happens without a trial); the updater logs it and reports it."""
    try:
        import otaboot

        if otaboot.confirm(root):
            print("gatepass: release confirmed")
            if updater is not None:
                updater.confirmed()
            return True
    except Exception as e:  # noqa: BLE001 - the trial stays; the boot path decides
        print("gatepass: ota confirm failed (%r)" % e)
    return False


def _updater(root, cfg, keys, log, plan):
    """The OTA updater (app/ota.py) for a config that trusts firmware keys; None when
    it cannot be built (the gate runs on, without updates)."""
    import sys

    try:
        from app import ota, p256

        # the keys' comb tables built now, on a young heap, and kept (like the issuer
        # keys): built at the first manifest, a 9 KB block may no longer be found in one
        # piece (a fragmented heap), and the check would fail with MemoryError every time
        tables = {}
        for kid, pub in keys.items():
            tables[kid] = p256.PublicKey(pub)
        mpy = getattr(sys.implementation, "_mpy", 0) & 0xFF
        return ota.Updater(root, tables, mpy, plan["ota"] if "ota" in plan else 0, log,
                           path(root, DATA), cfg.ota_retry_s * 1000)
    except Exception as e:  # noqa: BLE001 - an update problem never stops the gate
        print("gatepass: no OTA updates (%r)" % e)
        return None


def _firmware_version(root):
    """Version from the deploy stamp /gatepass.json ("" when absent)."""
    try:
        with open(path(root, "gatepass.json")) as f:
            v = json.loads(f.read()).get("version", "")
        return v if isinstance(v, str) else ""
    except (OSError, ValueError, AttributeError):
        return ""


def _keys(pairs):
    from app import p256

    out = {}
    i = 0
    for kid, pub in pairs:
        try:
            out[bytes(kid)] = p256.PublicKey(bytes(pub))
        except ValueError:
            raise _config.ConfigError("issuer_keys[%d].pub: not a valid P-256 point" % i)
        i += 1
    return out


def setup(root="/", wall=None, reset_cause=None, wifi="auto"):
    """Build the app under `root` (the device filesystem root, "/"). `wall`: callable
    giving port-epoch seconds (default time.time); `reset_cause`: overrides
    machine.reset_cause(); `wifi`: "auto" builds drivers.wifi.WiFi from the config when
    it names a server, None means a network that is always up (the simulator), or a
    WiFi-like object. Returns an App whose status is RUN, SAFE_MODE, PROFILE_ERROR,
    CONFIG_ERROR or CRASHED (an exception in a step: door locked, logged, watchdog
    started and never fed)."""
    return App(root).setup(wall, reset_cause, wifi)


def run(root="/"):
    """Device entry: set up and serve forever; the global exception handler locks the
    door and logs, then the watchdog resets the board."""
    app = setup(root)
    if app.status != RUN:
        return app
    try:
        asyncio.run(app.serve())
    except KeyboardInterrupt:
        app.stop()
    except Exception as e:  # noqa: BLE001 - the global handler
        app.crash(e)
    return app


if __name__ == "__main__":
    app = run()
