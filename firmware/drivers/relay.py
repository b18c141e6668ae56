"""Door lock relay: "unlock" means the right level for the lock and the relay board.

    lock = Relay(26, lock=STRIKE, active_high=True, pulse_ms=3000)
    lock.unlock()          # timed: locks again after pulse_ms (restarted by a new unlock)
    asyncio.create_task(lock.run())   # or call lock.update() from your loop
    lock.safe()            # locked now, whatever happened

STRIKE (fail-secure): power unlocks. MAGLOCK (fail-safe): power locks. `active_high` says
which GPIO level energises the relay board (many opto boards are active-low).

Holds (`hold(bit)` / `release(bit)`) keep the door unlocked whatever the timed logic
does, until released: HOLD_FIRE is the fire-alarm input (drivers/fire.py, from a hard
IRQ), HOLD_REMOTE an emergency release. While any hold is set, lock() and safe() only
update the state: the pin stays at the unlock level. hold()/release() allocate nothing
and may run in a hard IRQ; lock() re-checks the holds after its pin write, so an IRQ
between the check and the write cannot leave the door locked.

The GPIO is created at its locked level (`Pin(n, Pin.OUT, value=locked)`), which the ESP32
port applies before enabling the output, so construction never pulses the lock. Build the
relay first at boot, before anything that could fail. Both facts go into one level
computation here instead of machine.Signal, which knows polarity but not lock semantics.
"""
import time

from machine import Pin
from micropython import const

from app.aio import sleep_ms

STRIKE = "strike"
MAGLOCK = "maglock"
_MAX_MS = const(60000)  # longest unlock accepted (ticks arithmetic stays far from the wrap)
HOLD_FIRE = const(1)
HOLD_REMOTE = const(2)


class Relay:
    def __init__(self, pin, lock=STRIKE, active_high=True, pulse_ms=3000, pin_factory=None):
        if lock not in (STRIKE, MAGLOCK):
            raise ValueError("lock must be strike or maglock")
        energised = 1 if active_high else 0
        self._unlock_level = (1 - energised) if lock == MAGLOCK else energised
        self._lock_level = 1 - self._unlock_level
        self._pulse = pulse_ms
        mk = pin_factory if pin_factory is not None else Pin
        self._pin = mk(pin, Pin.OUT, value=self._lock_level)
        self._locked = True
        self._hold = 0
        self._until = 0
        self.unlocks = 0

    @property
    def locked(self):
        """True when the door is locked (no timed unlock and no hold)."""
        return self._locked and not self._hold

    @property
    def held(self):
        """The hold bits set (HOLD_FIRE | HOLD_REMOTE), 0 when none."""
        return self._hold

    def hold(self, bit):
        """Unlock until release(bit). No allocation: safe in a hard IRQ."""
        self._hold |= bit
        self._pin.value(self._unlock_level)

    def release(self, bit):
        """End hold `bit`: the pin goes back to what the timed logic says."""
        self._hold &= ~bit
        if self._hold or not self._locked:
            self._pin.value(self._unlock_level)
        else:
            self._pin.value(self._lock_level)
            if self._hold or not self._locked:  # an IRQ came in between
                self._pin.value(self._unlock_level)

    @property
    def unlock_level(self):
        """GPIO level that unlocks the door (for diagnostics)."""
        return self._unlock_level

    def unlock(self, ms=None):
        """Unlock for `ms` (default pulse_ms). Calling again restarts the time from now."""
        ms = self._pulse if ms is None else ms
        if not 0 < ms <= _MAX_MS:
            raise ValueError("unlock time out of range")
        self._until = time.ticks_add(time.ticks_ms(), ms)
        if self._locked:
            self._locked = False  # first: a hold released from an IRQ now keeps it open
            self._pin.value(self._unlock_level)
        self.unlocks += 1

    def _drive_locked(self):
        if not self._hold:
            self._pin.value(self._lock_level)
            if self._hold:  # a hold came in from an IRQ between the check and the write
                self._pin.value(self._unlock_level)

    def lock(self):
        self._locked = True
        self._drive_locked()

    def safe(self):
        """Lock now and forget any pending unlock; for error paths, never raises. A
        hold (fire alarm, emergency release) still wins."""
        self._locked = True
        try:
            self._drive_locked()
        except Exception:  # noqa: BLE001 - a failing GPIO write must not escape an error path
            pass

    def remaining_ms(self):
        """Milliseconds until the timed unlock ends (0 when locked; holds not counted)."""
        if self._locked:
            return 0
        r = time.ticks_diff(self._until, time.ticks_ms())
        return r if r > 0 else 0

    def update(self):
        """End the timed unlock if its time is over; True when this call did."""
        if not self._locked and time.ticks_diff(time.ticks_ms(), self._until) >= 0:
            self.lock()
            return True
        return False

    async def run(self, idle_ms=50):
        """Task: locks at the exact end of each unlock (sleeps the remaining time)."""
        while True:
            if self._locked:
                await sleep_ms(idle_ms)
                continue
            r = time.ticks_diff(self._until, time.ticks_ms())
            if r <= 0:
                self.lock()
            else:
                await sleep_ms(r if r < idle_ms else idle_ms)
