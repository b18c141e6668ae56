"""Numbers app/ and drivers/ share, written once: indicator patterns (drivers.indicator
plays them, the gate asks for them) and door contact events (drivers.door raises them,
the gate handles them). app/ never imports drivers/; drivers import these."""
from micropython import const

# indicator patterns
SHOW_ALLOW = const(1)
SHOW_DENY = const(2)
SHOW_FEVER = const(3)
SHOW_FAULT = const(4)
SHOW_BUSY = const(5)  # measuring / waiting: green blink, silent

# door contact events
DOOR_OPENED = const(1)
DOOR_CLOSED = const(2)
DOOR_HELD = const(3)  # open longer than held_open_ms (once per opening)
DOOR_FORCED = const(4)  # opened while the relay was locked
