"""Door contact (reed switch to GND, pull-up): debounced open/closed plus alarms.

    door = Door(27, contact=NC, is_locked=lambda: lock.locked)
    ev = door.update()     # call every ~20 ms (or run the task); returns an event or 0

NC contact: conducting while the door is shut, so the pin reads 0 shut and 1 open (a cut
wire also reads open). NO contact: the reverse. Events: OPENED, CLOSED (after `debounce_ms`),
HELD_OPEN (open longer than `held_open_ms`, once per opening), FORCED_OPEN (opened while
locked and still open `forced_ms` later: a rattle of the door is not an alarm).
"""
import time

from machine import Pin

from app.aio import sleep_ms

NC = "nc"
NO = "no"

# event numbers: app/codes.py (the gate handles them by these numbers)
from app.codes import DOOR_CLOSED as CLOSED
from app.codes import DOOR_FORCED as FORCED_OPEN
from app.codes import DOOR_HELD as HELD_OPEN
from app.codes import DOOR_OPENED as OPENED
NAMES = ("", "opened", "closed", "held_open", "forced_open")


class Door:
    def __init__(self, pin, contact=NC, pull_up=True, debounce_ms=50, held_open_ms=30000,
                 forced_ms=1000, is_locked=None, pin_factory=None):
        if contact not in (NC, NO):
            raise ValueError("contact must be nc or no")
        mk = pin_factory if pin_factory is not None else Pin
        # pull=None: input-only pads (34-39 on ESP32) need an external pull-up
        pull = Pin.PULL_UP if pull_up else None
        self._pin = mk(pin, Pin.IN, pull)  # pyright: ignore[reportArgumentType]
        self._open_level = 1 if contact == NC else 0
        self._debounce = debounce_ms
        self._held_ms = held_open_ms
        self._forced_ms = forced_ms
        self._is_locked = is_locked
        now = time.ticks_ms()
        self._raw = self._read()
        self._raw_since = now
        self._open = self._raw  # boot state is taken as is: no event for it
        self._opened_at = now
        self._locked_at_edge = False
        self._held_sent = False
        self._forced_sent = False
        self._queue = []

    def _read(self):
        return 1 if self._pin.value() == self._open_level else 0

    @property
    def is_open(self):
        """Debounced state."""
        return bool(self._open)

    def open_ms(self):
        """How long the door has been open (0 when closed)."""
        if not self._open:
            return 0
        return time.ticks_diff(time.ticks_ms(), self._opened_at)

    def _step(self):
        now = time.ticks_ms()
        raw = self._read()
        if raw != self._raw:
            self._raw = raw
            self._raw_since = now
            if raw:
                # the lock state when the door actually moved, not 50 ms later
                il = self._is_locked
                self._locked_at_edge = bool(il()) if il is not None else False
        q = self._queue
        if raw != self._open and time.ticks_diff(now, self._raw_since) >= self._debounce:
            self._open = raw
            if raw:
                self._opened_at = self._raw_since
                self._held_sent = False
                self._forced_sent = False
                q.append(OPENED)
            else:
                q.append(CLOSED)
        if self._open:
            t = time.ticks_diff(now, self._opened_at)
            if self._locked_at_edge and not self._forced_sent and t >= self._forced_ms:
                self._forced_sent = True
                q.append(FORCED_OPEN)
            if not self._held_sent and t >= self._held_ms:
                self._held_sent = True
                q.append(HELD_OPEN)

    def update(self):
        """Sample the contact; return the next event (OPENED, CLOSED, HELD_OPEN, FORCED_OPEN)
        or 0. Several events due at once come out on successive calls."""
        if not self._queue:
            self._step()
        if self._queue:
            return self._queue.pop(0)
        return 0

    async def run(self, on_event, poll_ms=20):
        """Task: poll and call `on_event(event)` for every event."""
        while True:
            ev = self.update()
            while ev:
                on_event(ev)
                ev = self.update() if self._queue else 0
            await sleep_ms(poll_ms)
