"""The passage state machine: scan -> verify -> measure -> decide -> door + indicator -> log.

    g = Gate(roles.IN, "greenhill", keys, settings, log, clock, lists, apb,
             relay, indicator, scanner, sensor.read, door)
    g.boot(machine.reset_cause())
    asyncio.create_task(g.run())          # forever: poll the scanner, one passage at a time

Pure logic: the devices come in through small interfaces (see docs/gate.md):
  scanner:   poll() -> str scan, int rejection (1..3) or None; never blocks
  read_temp: () -> (object_cc, ambient_cc) ints in centi-degrees C, raises OSError
             (None: no thermometer)
  relay:     unlock(ms), lock(), safe(), locked;   indicator: show(kind, l1, l2), text(l1, l2)
  door:      is_open, open_ms() (optional; its events go to on_door(ev))

One passage at a time. Scans that arrive while a passage runs are dropped when it ends
(a queued scan would be measured against whoever stands at the sensor next); scans that
arrive while the door is unlocked or open are dropped with "Please wait"; the same code
read again within `repeat_ms` of its passage (a phone held up to a scanner in continuous
mode) is ignored unless the person was told to retry. Every step is bounded: the
temperature step waits at most `measure_ms` for a usable reading, and is cancelled after
`measure_ms + grace_ms` (TIMEOUT). Any exception in a passage locks the relay (safe()),
logs K_ERROR and shows "Device error"; the loop carries on.
"""
import asyncio
import struct
import time

from micropython import const

from app import passes, policy, reasons, record, roles, thermo, visits
from app.aio import sleep_ms
# indicator patterns and door events: app/codes.py (drivers use the same numbers)
from app.codes import (DOOR_CLOSED, DOOR_FORCED, DOOR_HELD, DOOR_OPENED, SHOW_ALLOW,  # noqa: F401
                       SHOW_BUSY, SHOW_DENY, SHOW_FAULT, SHOW_FEVER)

# Two gates' clocks each stay within the uplink's 2 s tolerance of the server: within
# this many seconds a peer's passage and ours cannot be ordered by their times
PEER_SLACK_S = const(10)

# K_SENSOR_FAULT aux: high byte = device, low byte = driver error kind (0 = absent/unknown)
DEV_THERMOMETER = const(0)
DEV_SCANNER = const(1)
DEV_DISPLAY = const(2)
_DEVICES = ("sensor", "scanner", "display")

# Gate.state
IDLE = const(0)
PASSAGE = const(1)  # scan -> decision running
DOOR = const(2)  # unlocked or open after an allowed passage

_RETRY = (reasons.NO_READING, reasons.UNSTABLE, reasons.IMPLAUSIBLE)
_I32 = const(0x7FFFFFFF)


def show_cc(cc):
    """Body temperature for the display, cut (never rounded up) to 0.1 C: a person let in
    never reads the threshold itself (3729 cC -> "37.2 C")."""
    sign = "-" if cc < 0 else ""
    t = (-cc if cc < 0 else cc) // 10
    return "%s%d.%d C" % (sign, t // 10, t % 10)


def wrap(msg, extra="", cols=16):
    """Two display lines: `msg` broken at a space to fit `cols`, then `extra` after it
    when there is room (messages are <= 20 characters, a 128-px panel shows 16)."""
    if len(msg) <= cols:
        return msg, extra
    i = msg.rfind(" ", 0, cols + 1)
    if i <= 0:
        i = cols
        a, b = msg[:i], msg[i:]
    else:
        a, b = msg[:i], msg[i + 1:]
    if extra and len(b) + 1 + len(extra) <= cols:
        b = b + " " + extra
    return a, b


class Passage:
    """One scan and what came of it.

    text: the scan (str) or the scanner's rejection (int); p: Pass or reason code;
    temp: thermo.Reading or reason code; decision: policy.Decision; seq: its event
    record (0 when not logged); t: unix seconds of the decision; ms: ticks_ms duration.
    """

    def __init__(self, text):
        self.text = text
        self.p = None
        self.temp = None
        self.decision = None
        self.seq = 0
        self.t = 0
        self.ms = 0

    def checked(self, p):
        self.p = p

    def measured(self, temp):
        self.temp = temp

    def __repr__(self):
        return "Passage(%s, seq=%d)" % (self.decision, self.seq)


class Gate:
    """The gate of one door in one direction (roles.IN or roles.OUT).

    keys: {kid: p256.PublicKey}; settings: app.settings.Settings; log: EventLog;
    clock: app.clock.Clock; lists: app.lists.Lists or None; apb: app.lists.Passback or
    None; visits: app.visits.Visits or None (the visitor table: one entry, one exit).
    Timing attributes (ms): measure_ms, grace_ms, retry_gap_ms, repeat_ms, poll_ms,
    notice_ms; `cols` is the display width in characters.
    """

    measure_ms = 5000  # how long a person may take to present a usable forehead reading
    grace_ms = 2000  # hard bound beyond measure_ms before the step is cancelled
    retry_gap_ms = 150
    repeat_ms = 3000  # the same code again within this time after its passage: ignored
    poll_ms = 20  # scanner poll interval (9600 baud: ~20 bytes per poll)
    notice_ms = 1500  # "Please wait" cooldown
    cols = 16

    def __init__(self, direction, community, keys, settings, log, clock, lists=None, apb=None,
                 relay=None, indicator=None, scanner=None, read_temp=None, door=None,
                 visits=None):
        if direction not in (roles.IN, roles.OUT):
            raise ValueError("direction must be roles.IN or roles.OUT")
        self.direction = direction
        self.community = community
        self.keys = keys
        self.log = log
        self.clock = clock
        self.lists = lists
        self.apb = apb
        self.visits = visits
        self.relay = relay
        self.indicator = indicator
        self.scanner = scanner
        self.read_temp = read_temp
        self.door = door
        self.bundle_version = 0
        self.settings = settings
        self.params = thermo.Params.from_settings(settings)
        self._apply_log_settings()
        self.state = IDLE
        self.beat_ms = time.ticks_ms()  # heartbeat for the watchdog supervisor
        self.voice = None  # drivers/voice.Voice (say_reason, say): spoken prompts, optional
        self.on_passage = None  # callable(Passage) after each decision (simulator, uplink)
        self.on_event = None  # callable(kind, seq) after each system event
        self.on_urgent = None  # callable(seq) for urgent records (the uplink sends them first)
        self.last = None  # the last Passage
        self.counts = {"passages": 0, "allowed": 0, "dropped": 0, "repeats": 0, "errors": 0}
        self.last_error = None
        self._last_text = None
        self._last_end = 0
        self._last_retry = False
        self._cur_text = None
        self._fault_kind = 0
        self._sensor_bad = False
        self.doorwatch = DoorWatch(self)
        self._notice_at = 0
        self._notice = False
        self.arm = None  # TriggerArm of a command-triggered scanner (use_trigger)

    # ---- small helpers

    def beat(self):
        self.beat_ms = time.ticks_ms()

    def _apply_log_settings(self):
        s = self.settings
        self.log.full_policy = s.log_full
        self.log.near_pct = int(s.log_near_full_pct)

    def show(self, kind, msg, extra=""):
        """Indicator pattern `kind` (SHOW_*) with `msg` wrapped over the two lines."""
        ind = self.indicator
        if ind is None:
            return
        a, b = wrap(msg, extra, self.cols)
        ind.show(kind, a, b, msg, extra)  # the whole message: a Chinese display translates it

    def speak(self, code):
        """Queue the spoken prompt of reason `code` (code -1: the "one at a time" prompt).
        Never raises and never waits: the voice driver only queues (drivers/voice.py)."""
        v = self.voice
        if v is None:
            return
        try:
            if code < 0:
                v.say(reasons.prompts().index(reasons.wait_prompt()))
            else:
                v.say_reason(code)
        except Exception as e:  # noqa: BLE001 - a broken voice module must not stop the door
            self.last_error = e

    def log_event(self, kind, flags=0, aux=0, reason=0, role=record.NO_ROLE, pid=None):
        """Log a system event (record.K_*); returns its seq, 0 when not written. Never
        raises: the door logic goes on without its log."""
        try:
            seq = self.log.append(kind, reason, flags, role, pid, record.NO_TEMP, record.NO_TEMP,
                                  record.NO_TEMP, aux)
        except Exception as e:  # noqa: BLE001 - a broken log must not stop the door logic
            self.last_error = e
            return 0
        if seq:
            if flags & record.F_URGENT and self.on_urgent is not None:
                self.on_urgent(seq)
            if self.on_event is not None:
                self.on_event(kind, seq)
        return seq

    # ---- boot, time, bundles

    def boot(self, cause=0, faults=()):
        """At start-up: never let the clock run behind the log, log K_BOOT (aux = reset
        cause) and one K_SENSOR_FAULT per device that failed to build: `faults` is
        devices.Devices.faults, [(device name, message)]."""
        try:
            self.clock.bump(self.log.last_time())
        except Exception as e:  # noqa: BLE001
            self.last_error = e
        self.log_event(record.K_BOOT, aux=cause)
        for name, _msg in faults:
            dev = _DEVICES.index(name) if name in _DEVICES else 0xFF
            self.log_event(record.K_SENSOR_FAULT, record.F_URGENT if dev == DEV_THERMOMETER else 0,
                         dev << 8)
            if dev == DEV_THERMOMETER:
                self._sensor_bad = True
        if self._sensor_bad or self.read_temp is None:
            self.show(SHOW_FAULT, reasons.message(reasons.SENSOR_FAULT))

    def set_time(self, unix_s, source):
        """Set the clock from a trusted source (app.clock SRC_*) and log K_TIME_SET with the
        step. Returns the step in seconds, or None when the clock refused it."""
        old = self.clock.now()
        step = self.clock.set(unix_s, source)
        if step is None:
            return None
        st = -_I32 if step < -_I32 else (_I32 if step > _I32 else step)
        pid = struct.pack("<iI", st, old & 0xFFFFFFFF)
        self.log_event(record.K_TIME_SET, aux=source, pid=pid)
        return step

    def note_passage(self, pid, direction, t):
        """Anti-passback state from elsewhere (a paired gate's passage, synced by the
        server): pid is the 8-byte pass id."""
        if self.apb is not None:
            self.apb.record(pid, direction, t, PEER_SLACK_S)

    def apply_bundle(self, b):
        """Swap in what an applied bundle says: prepare_bundle(b) then its commit."""
        self.prepare_bundle(b)()

    def prepare_bundle(self, b):
        """Build everything an applied bundle changes (settings, measuring parameters,
        issuer keys and their tables: the allocation-heavy part, which may raise
        MemoryError) without touching the gate; returns commit(), which swaps it all in
        at once and allocates nothing. bundle.Store calls this before it writes the
        bundle (Store.on_prepare) and commit() after, so a failure leaves the old bundle
        in force everywhere, never half of each.

        b has version, make_settings() and issuer_keys() -> {kid: pub65} (empty: keep the
        configured keys). A key that is not a valid point is skipped (logged); if none is
        valid the current keys stay."""
        s = b.make_settings()
        params = thermo.Params.from_settings(s)
        pubs = b.issuer_keys()
        keys = None
        bad = 0
        if pubs:
            from app import p256

            keys = {}
            for kid in pubs:
                old = self.keys.get(kid)
                if old is not None and getattr(old, "pub", None) == pubs[kid]:
                    keys[kid] = old  # same key: its table stays (built once per key)
                    continue
                try:
                    keys[kid] = p256.PublicKey(pubs[kid])
                except ValueError:
                    bad += 1
            if not keys:
                keys = None
        version = b.version
        full = s.log_full
        near = int(s.log_near_full_pct)

        def commit():
            if keys is not None:
                self.keys = keys
            self.settings = s
            self.params = params
            log = self.log
            log.full_policy = full
            log.near_pct = near
            self.bundle_version = version
            for _ in range(bad):
                self.log_event(record.K_ERROR, record.F_URGENT, reasons.UNKNOWN_KID)
        return commit

    def use_trigger(self, fn):
        """A command-triggered scanner: `fn()` starts one scan session (see TriggerArm)."""
        self.arm = TriggerArm(fn, self._present)

    def idle(self):
        """True when no passage is in progress (the uplink waits for it before work
        that holds the CPU: a DNS lookup, a bundle signature check)."""
        return self.state != PASSAGE

    # ---- one passage, synchronous parts

    def check(self, text):
        """Validate a scan: a Pass or a reason code. The validity window is only checked
        here with trusted time (the policy handles untrusted time)."""
        if not isinstance(text, str):
            return reasons.MALFORMED  # the scanner rejected it: too long, not text, cut
        c = self.clock
        return passes.validate(text, self.keys, self.community, c.now() if c.trusted() else None)

    def decide(self, p, temp):
        c = self.clock
        return policy.decide(p, temp, self.direction, c.now(), c.trusted(), self.settings,
                             self.lists, self.apb, self.visits)

    def _worth_waiting(self, p):
        # keep a person at the thermometer only if a normal reading would let them in:
        # a bad pass is measured once (a fever still alarms), then refused at once
        if isinstance(p, int):
            return False
        return self.decide(p, policy.Reading(self.settings.threshold_cc - 50)).allow

    def commit(self, ps, d):
        """Log the decision, then act on it: the record comes first, so a passage the log
        cannot hold (LOG_FULL) never opens the door and an opened door is always logged."""
        p = ps.p
        temp = ps.temp
        pid = None
        role = record.NO_ROLE
        exp = 0
        if not isinstance(p, int) and p is not None:
            pid = record.pass_id(p.cti)
            exp = p.exp
            role = p.role if 0 <= p.role < 255 else record.NO_ROLE
        body = obj = amb = record.NO_TEMP
        if temp is not None and not isinstance(temp, int):
            body = record.clamp_cc(temp.body_cc)
            obj = record.clamp_cc(getattr(temp, "object_cc", None))
            amb = record.clamp_cc(getattr(temp, "ambient_cc", None))
        c = self.clock
        seq = self.log.append(record.K_PASSAGE, d.reason, d.record_flags(self.direction, c.trusted()),
                              role, pid, body, obj, amb, d.detail)
        if not seq:
            # the detail keeps what it would have been; a fever still sounds
            d = policy.Decision(False, reasons.LOG_FULL, d.reason, 0, d.alarm, d.urgent)
        ps.decision = d
        ps.seq = seq
        ps.t = c.now()
        if d.allow:
            relay = self.relay
            if relay is not None:
                relay.unlock(d.unlock_s * 1000)
            self.state = DOOR
            self.doorwatch.entered = False
            if pid is not None:
                try:
                    if self.apb is not None:
                        self.apb.record(pid, self.direction, ps.t)
                    if role == roles.VISITOR and self.visits is not None:
                        self.visits.mark(pid, visits.ENTERED if self.direction == roles.IN
                                         else visits.EXITED, exp, ps.t)
                except OSError as e:  # the door is open and logged: note it, go on
                    self.last_error = e
                    self.log_event(record.K_ERROR, aux=reasons.INTERNAL_ERROR, role=role, pid=pid)
        self._announce(ps, d)
        self.counts["passages"] += 1
        if d.allow:
            self.counts["allowed"] += 1
        if d.urgent and seq and self.on_urgent is not None:
            self.on_urgent(seq)
        return d

    def _announce(self, ps, d):
        temp = ps.temp
        extra = ""
        if temp is not None and not isinstance(temp, int):
            extra = show_cc(temp.body_cc)
        elif d.allow and not isinstance(ps.p, int) and ps.p is not None and ps.p.label:
            extra = ps.p.label
        if d.alarm:
            kind = SHOW_FEVER
        elif d.allow:
            kind = SHOW_ALLOW
        elif d.reason in (reasons.SENSOR_FAULT, reasons.INTERNAL_ERROR, reasons.LOG_FULL):
            kind = SHOW_FAULT
        else:
            kind = SHOW_DENY
        self.show(kind, d.message, extra)
        self.speak(d.reason)

    def fail(self, ps, exc):
        """The passage raised: lock, log K_ERROR, show "Device error". Never raises."""
        relay = self.relay
        if relay is not None:
            relay.safe()
        self.state = IDLE
        self.last_error = exc
        self.counts["errors"] += 1
        p = ps.p if ps is not None else None
        pid = None
        role = record.NO_ROLE
        if p is not None and not isinstance(p, int):
            try:
                pid = record.pass_id(p.cti)
                role = p.role & 0xFF
            except Exception:  # noqa: BLE001 - whatever p is, the error still gets logged
                pid = None
        self.log_event(record.K_ERROR, aux=reasons.INTERNAL_ERROR, role=role, pid=pid)
        d = policy.Decision(False, reasons.INTERNAL_ERROR, 0, 0)
        if ps is not None:
            ps.decision = d
        try:
            self.show(SHOW_FAULT, d.message)
        except Exception:  # noqa: BLE001 - the indicator may be what failed
            pass
        try:
            print("gate: passage error:", repr(exc))
        except Exception:  # noqa: BLE001
            pass
        return d

    def passage_now(self, text, temp):
        """A whole passage with a temperature already taken (Reading or reason code):
        check -> decide -> commit. Never raises; the benchmark and tests use it."""
        ps = Passage(text)
        t0 = time.ticks_ms()
        try:
            ps.checked(self.check(text))
            ps.measured(temp)
            self.commit(ps, self.decide(ps.p, temp))
        except Exception as e:  # noqa: BLE001 - any failure: locked, logged
            self.fail(ps, e)
        ps.ms = time.ticks_diff(time.ticks_ms(), t0)
        self.last = ps
        return ps

    # ---- temperature

    def _read(self):
        try:
            return self.read_temp()  # pyright: ignore[reportOptionalCall]
        except OSError as e:
            k = getattr(e, "kind", 0)
            self._fault_kind = k if isinstance(k, int) and 0 <= k < 256 else 0
            raise

    def _sensor_state(self, temp):
        # log a thermometer fault once when it starts, not on every passage
        if temp == reasons.SENSOR_FAULT:
            if not self._sensor_bad:
                self._sensor_bad = True
                self.log_event(record.K_SENSOR_FAULT, record.F_URGENT,
                             (DEV_THERMOMETER << 8) | self._fault_kind)
        elif not isinstance(temp, int):
            self._sensor_bad = False

    async def _measure(self, p):
        if self.read_temp is None:
            return reasons.SENSOR_FAULT
        deadline = time.ticks_add(time.ticks_ms(), self.measure_ms)
        r = await thermo.measure_async(self._read, self.params)
        if r not in _RETRY or not self._worth_waiting(p):
            return r
        said = False
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            self.show(SHOW_BUSY, reasons.message(r))
            if not said:
                said = True
                self.speak(r)  # "come closer" said while waiting, once
            self.beat()
            await sleep_ms(self.retry_gap_ms)
            r = await thermo.measure_async(self._read, self.params)
            if r not in _RETRY:
                break
        return r

    async def measure(self, p):
        """The temperature step for pass (or code) `p`: a Reading or a reason code,
        TIMEOUT when the step overran measure_ms + grace_ms."""
        try:
            temp = await asyncio.wait_for(self._measure(p), (self.measure_ms + self.grace_ms) / 1000)
        except asyncio.TimeoutError:
            temp = reasons.TIMEOUT
        self._sensor_state(temp)
        return temp

    # ---- one passage, asynchronous

    async def passage(self, text):
        """scan -> verify -> measure -> decide -> relay + indicator -> log. Never raises."""
        ps = Passage(text)
        t0 = time.ticks_ms()
        self.state = PASSAGE
        self._cur_text = text
        try:
            self.show(SHOW_BUSY, "Checking", "")
            ps.checked(self.check(text))
            self.beat()
            temp = await self.measure(ps.p)
            ps.measured(temp)
            d = self.decide(ps.p, temp)
            if temp == reasons.TIMEOUT and d.reason == reasons.SENSOR_FAULT:
                # the policy reads an unknown measuring outcome as a fault: say what it was
                d = policy.Decision(False, reasons.TIMEOUT, 0, 0)
            self.commit(ps, d)
        except Exception as e:  # noqa: BLE001 - the global rule: any failure locks the door
            self.fail(ps, e)
        if self.state == PASSAGE:
            self.state = IDLE
        ps.ms = time.ticks_diff(time.ticks_ms(), t0)
        self.last = ps
        d = ps.decision
        self._last_retry = d is not None and d.retry
        if self.arm is not None:
            self.arm.passed(self._last_retry)
        if self.on_passage is not None:
            self.on_passage(ps)
        return ps

    def _drain(self):
        # scans that came in during the passage: dropped (the same code re-read is not
        # counted); partial input stays and completes later
        sc = self.scanner
        while sc is not None:
            r = sc.poll()
            if r is None:
                return
            if r != self._cur_text:
                self.counts["dropped"] += 1

    def door_busy(self):
        """True while an allowed passage is under way: relay unlocked or door open."""
        r = self.relay
        if r is not None and not r.locked:
            return True
        d = self.door
        return d is not None and d.is_open and self.state == DOOR

    async def on_scan(self, r):
        """Handle one scanner result; returns the Passage, or None when it was ignored."""
        now = time.ticks_ms()
        if (r == self._last_text and not self._last_retry
                and time.ticks_diff(now, self._last_end) < self.repeat_ms):
            self.counts["repeats"] += 1
            return None
        if self.door_busy():
            if r != self._last_text:
                self.counts["dropped"] += 1
                if not self._notice:
                    self._notice = True
                    self._notice_at = now
                    ind = self.indicator
                    if ind is not None:
                        ind.text("Please wait", "one at a time")
                    self.speak(-1)
            return None
        ps = await self.passage(r)
        if self.scanner is not None:
            self._drain()
        self._last_text = r
        self._last_end = time.ticks_ms()
        return ps

    def tick(self):
        """Housekeeping between scans: leave DOOR when the door cycle ended; start scan
        sessions of a command-triggered scanner."""
        if self.state == DOOR and not self.door_busy():
            self.state = IDLE
        now = time.ticks_ms()
        if self._notice and time.ticks_diff(now, self._notice_at) >= self.notice_ms:
            self._notice = False
        if self.arm is not None and self.state == IDLE:
            self.arm.poll(now)

    def _present(self):
        if self.read_temp is None:
            return True
        try:
            o, a = self.read_temp()
        except OSError:
            return True  # a broken thermometer must not hide the scanner: the passage says why
        return self.params.present(o, a)

    async def run(self):
        """Forever: poll the scanner every poll_ms and run passages one at a time."""
        sc = self.scanner
        while True:
            self.beat()
            self.tick()
            r = sc.poll() if sc is not None else None
            if r is not None:
                await self.on_scan(r)
            await sleep_ms(self.poll_ms)

    # ---- door

    def on_door(self, ev):
        """Door contact events (drivers.door): see DoorWatch."""
        self.doorwatch.event(ev)

    def stats(self):
        out = {}
        for k in self.counts:
            out[k] = self.counts[k]
        out["state"] = self.state
        out["bundle_version"] = self.bundle_version
        return out


class TriggerArm:
    """Scan sessions of a command-triggered scanner (profile scanner.mode "command").

    `fire()` starts one scan session; sessions start when `present()` (the thermometer)
    sees someone arrive, every `poll_ms` while the gate is idle: at most `tries` sessions
    of `window_ms` per arrival while no code is read. After a passage the person gets no
    new session until they leave, unless they were told to retry.
    """

    poll_ms = 300  # presence check interval
    window_ms = 3000  # one triggered scan session (GM65 default single-scan time)
    tries = 5  # sessions per arrival while no code is read

    def __init__(self, fire, present):
        self.fire = fire
        self.present = present
        self.armed = 0
        self.armed_at = 0
        self.polled_at = 0

    def poll(self, now):
        if time.ticks_diff(now, self.polled_at) < self.poll_ms:
            return
        self.polled_at = now
        if not self.present():
            self.armed = 0
            return
        if self.armed == 0 or (self.armed < self.tries and time.ticks_diff(now, self.armed_at) >= self.window_ms):
            self.armed += 1
            self.armed_at = now
            self.fire()

    def passed(self, retry):
        """One scan session per arrival; a person told to retry gets new ones."""
        self.armed = 0 if retry else self.tries


class DoorWatch:
    """The door contact of one gate: held and forced open are logged (forced is urgent and
    sounds the alarm); the relay locks again as soon as the door closes after the passage
    it was opened for (no tailgating on the rest of the pulse)."""

    def __init__(self, gate):
        self.gate = gate
        self.opened = 0  # ticks_ms of the last OPENED event
        self.entered = False  # the door opened while unlocked for a passage
        self.alarm = False  # held or forced: the indicator shows it until the door closes

    def event(self, ev):
        g = self.gate
        relay = g.relay
        if ev == DOOR_OPENED:
            self.opened = time.ticks_ms()
            if relay is not None and not relay.locked:
                self.entered = True
        elif ev == DOOR_CLOSED:
            if self.alarm:
                self.alarm = False
                g.log_event(record.K_DOOR_CLOSED, aux=self.open_s())
                ind = g.indicator
                if ind is not None:
                    ind.off()
            if relay is not None and not relay.locked and self.entered:
                relay.lock()
            self.entered = False
        elif ev == DOOR_HELD:
            self.alarm = True
            g.log_event(record.K_DOOR_HELD, aux=self.open_s())
            g.show(SHOW_FAULT, "Close the door")
        elif ev == DOOR_FORCED:
            self.alarm = True
            g.log_event(record.K_DOOR_FORCED, record.F_URGENT | record.F_ALARM)
            g.show(SHOW_FEVER, "Door forced")

    def open_s(self):
        """Whole seconds the door has been open."""
        d = self.gate.door
        if d is not None and d.is_open:
            ms = d.open_ms()  # from the contact's first move
        else:  # closed: the driver forgot; count from the (debounced) OPENED event
            ms = time.ticks_diff(time.ticks_ms(), self.opened)
        return ms // 1000 if ms > 0 else 0
