"""What the gate does when the fire-alarm input changes (the door itself is released by
drivers/fire.py from its pin interrupt, before any of this runs).

    fire.run(alarms.on_fire(gate))     # task started by main.serve()

Active: an urgent K_FIRE record (aux 1, alarm flag) and "Fire alarm / door open" on the
display. Cleared: an urgent K_FIRE record (aux 0) and the display back to `name` / ready.
"""
from app import record

FIRE_ON = 1
FIRE_OFF = 0


def on_fire(gate, name=""):
    """Callback for FireInput.run(): logs and shows each change of the input."""
    from app import gate as _gate

    def changed(active):
        if active:
            gate.log_event(record.K_FIRE, record.F_URGENT | record.F_ALARM, FIRE_ON)
            gate.show(_gate.SHOW_FAULT, "Fire alarm", "door open")
        else:
            gate.log_event(record.K_FIRE, record.F_URGENT, FIRE_OFF)
            ind = gate.indicator
            if ind is not None:
                ind.show(_gate.SHOW_BUSY, name, "ready")
    return changed
