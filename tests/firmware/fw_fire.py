"""Fire-alarm release (drivers/fire.py) and relay holds (drivers/relay.py) on CPython and
MicroPython: the door follows the alarm contact from the pin interrupt alone, the
interrupt path allocates nothing (heap locked, as in a hard IRQ), and the timed unlock
logic can neither lock a held door nor lose a hold to a race."""
import micropython

from fwpins import Factory, drivers

relay_mod, fire_mod = drivers("relay", "fire")

RELAY = 26
FIRE = 32


def alarm_level(contact):
    """Pull-up wiring: a closed contact reads 0; NO closes on alarm, NC opens."""
    return 0 if contact == "no" else 1


def rig(lock="strike", active_high=True, contact="no", alarm=False):
    """Relay + fire input; `alarm`: the contact is in alarm already when the input is
    built (a reboot in the middle of a fire)."""
    a = alarm_level(contact)
    f = Factory({FIRE: a if alarm else 1 - a})
    r = relay_mod.Relay(RELAY, lock, active_high, 3000, f)
    fi = fire_mod.FireInput(FIRE, r, contact, True, f)
    return r, fi, f.pins[RELAY], f.pins[FIRE]


def test_every_lock_and_contact_kind_releases_while_active():
    for lock in ("strike", "maglock"):
        for active_high in (True, False):
            for contact in ("no", "nc"):
                r, fi, rp, fp = rig(lock, active_high, contact)
                unlock = r.unlock_level
                assert rp.levels == [1 - unlock] and r.locked and not fi.active
                assert fp.trigger == 3 and fp.hard is True and fp.pull == 2
                fp.drive(alarm_level(contact))
                assert rp.out == unlock and not r.locked and fi.active
                assert r.held == relay_mod.HOLD_FIRE
                fp.drive(1 - alarm_level(contact))
                assert rp.out == 1 - unlock and r.locked and not fi.active
                assert r.held == 0


def test_an_alarm_active_at_construction_releases_at_once():
    for contact in ("no", "nc"):
        r, fi, rp, fp = rig("maglock", True, contact, alarm=True)
        assert fi.active and not r.locked and rp.levels == [1 - r.unlock_level, r.unlock_level]


def test_the_timed_logic_cannot_lock_a_held_door():
    r, fi, rp, fp = rig()
    r.unlock(3000)
    fp.drive(0)
    r.lock()  # the door closed behind the person
    assert rp.out == r.unlock_level and not r.locked
    r.safe()  # an error path
    assert rp.out == r.unlock_level and not r.locked
    r.update()
    assert rp.out == r.unlock_level
    fp.drive(1)  # the alarm clears: locked again, the unlock was over
    assert rp.out == 1 - r.unlock_level and r.locked


def test_clearing_the_alarm_during_a_timed_unlock_keeps_the_unlock():
    r, fi, rp, fp = rig()
    fp.drive(0)
    r.unlock(3000)  # a passage during the alarm
    fp.drive(1)
    assert rp.out == r.unlock_level and not r.locked and r.remaining_ms() > 0


def test_remote_and_fire_holds_are_independent():
    r, fi, rp, fp = rig()
    r.hold(relay_mod.HOLD_REMOTE)
    fp.drive(0)
    fp.drive(1)
    assert rp.out == r.unlock_level and r.held == relay_mod.HOLD_REMOTE
    r.release(relay_mod.HOLD_REMOTE)
    assert rp.out == 1 - r.unlock_level and r.locked


class _RacePin:
    """A relay pin whose first write of `level` runs `then` (an IRQ arriving right
    after lock() checked the holds, before its write lands)."""

    def __init__(self, rec, level, then):
        self.rec = rec
        self.level = level
        self.then = then

    def value(self, x=None):
        self.rec.value(x)
        if x == self.level and self.then is not None:
            t = self.then
            self.then = None
            t()


def test_an_interrupt_between_check_and_write_cannot_leave_the_door_locked():
    r, fi, rp, fp = rig()
    r.unlock(3000)
    fp.outside = 0  # the contact closed; its IRQ lands inside lock()'s pin write
    r._pin = _RacePin(rp, 1 - r.unlock_level, lambda: fi._irq(fp))
    r.lock()
    assert rp.out == r.unlock_level and r.held


def test_the_interrupt_path_allocates_nothing():
    r, fi, rp, fp = rig("maglock", False, "nc")
    handler = fp.handler
    micropython.heap_lock()  # a hard IRQ may not allocate: MemoryError if it did
    try:
        fp.outside = 1
        handler(fp)
        held = r.held
        fp.outside = 0
        handler(fp)
        r.hold(relay_mod.HOLD_REMOTE)
        r.release(relay_mod.HOLD_REMOTE)
    finally:
        micropython.heap_unlock()
    assert held == relay_mod.HOLD_FIRE and r.held == 0 and rp.out == 1 - r.unlock_level
    assert fi.edges == 2


def test_run_reports_changes_and_repairs_a_missed_edge():
    import asyncio

    import fwenv
    from app.aio import sleep_ms

    r, fi, rp, fp = rig()
    seen = []
    fp.outside = 0  # an edge the port never reported: the door is still locked
    assert rp.out == 1 - r.unlock_level

    async def main():
        t = asyncio.create_task(fi.run(seen.append, 10))
        await sleep_ms(25)
        fp.drive(1)
        await sleep_ms(25)
        t.cancel()

    if fwenv.RUNTIME == "cpython":
        asyncio.run(main())
    else:  # the wasm port's event loop needs JavaScript: step the task by hand, with
        # sleeps that yield (a real sleep_ms would arm a timer into a finished instance)
        real = asyncio.sleep_ms
        asyncio.sleep_ms = _yield_once
        try:
            g = fi.run(seen.append, 10)
            g.send(None)
            fp.drive(1)
            g.send(None)
        finally:
            asyncio.sleep_ms = real
    assert seen == [True, False]
    assert r.unlock_level in rp.levels and rp.out == 1 - r.unlock_level


def _yield_once(ms):
    yield
