"""Fire-alarm release: a dry contact from the fire panel unlocks the door while active.

    fire = FireInput(32, relay, contact=NO, pull_up=True)   # right after the relay
    asyncio.create_task(fire.run(on_change))                # logging only, optional

The pin interrupt (a hard IRQ on ports that have one) drives the relay pin itself through
relay.hold(HOLD_FIRE) / relay.release(HOLD_FIRE): no asyncio task, no allocation, so the
door releases within microseconds whatever the app does -- a hung gate loop, a full
heap, safe mode, a config error. Each edge reads the pin level, so contact bounce ends in
the right state. Strikes open and maglocks release because the relay driver knows which
level unlocks. Construction applies the current level at once (an alarm that is already
active at boot releases the door right after the relay is built).

`run(on_change)` is the slow path: every `poll_ms` it re-applies the level (an edge the
port missed cannot keep the door locked) and calls on_change(active) after each change,
for the event log and the display.

contact NO: closes on alarm; NC: opens on alarm (a cut wire releases too). With a pull-up
(internal or external) a closed contact reads 0.
"""
from machine import Pin

from app.aio import sleep_ms
from drivers.relay import HOLD_FIRE

NO = "no"
NC = "nc"


class FireInput:
    def __init__(self, pin, relay, contact=NO, pull_up=True, pin_factory=None):
        if contact not in (NO, NC):
            raise ValueError("contact must be no or nc")
        mk = pin_factory if pin_factory is not None else Pin
        if pull_up:
            self._pin = mk(pin, Pin.IN, Pin.PULL_UP)
        else:
            self._pin = mk(pin, Pin.IN)
        self._active_level = 0 if contact == NO else 1
        self._relay = relay
        self.edges = 0  # interrupts seen (diagnostics)
        if self.active:  # otherwise the relay stays as built: no second write
            relay.hold(HOLD_FIRE)
        self._irq_ref = self._irq  # one bound method, made here and not in the IRQ
        try:
            self._pin.irq(self._irq_ref, Pin.IRQ_RISING | Pin.IRQ_FALLING, hard=True)
        except TypeError:  # a port without hard IRQs: a soft one still runs between bytecodes
            self._pin.irq(self._irq_ref, Pin.IRQ_RISING | Pin.IRQ_FALLING)

    @property
    def active(self):
        """True while the alarm contact says fire (read from the pin now)."""
        return self._pin.value() == self._active_level

    def _apply(self):
        if self._pin.value() == self._active_level:
            self._relay.hold(HOLD_FIRE)
        else:
            self._relay.release(HOLD_FIRE)

    def _irq(self, _pin):
        self.edges += 1
        self._apply()

    async def run(self, on_change=None, poll_ms=50):
        """Re-apply the input every poll_ms; on_change(active) after each change (the
        first call reports an alarm already active at start)."""
        was = False
        while True:
            now = self.active
            if now != bool(self._relay.held & HOLD_FIRE):
                self._apply()  # an edge the port did not report
            if now != was:
                was = now
                if on_change is not None:
                    on_change(now)
            await sleep_ms(poll_ms)


def from_profile(profile, relay):
    """The profile's "fire" input bound to `relay`, or None when the profile has none
    (a profile completed by app.board.validate)."""
    f = profile.get("fire")
    if not isinstance(f, dict):
        return None
    return FireInput(f["pin"], relay, f["contact"], f["pull"] == "up")
