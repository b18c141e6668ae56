"""Pass roles (one byte in passes and event records; never renumber)."""
from micropython import const

RESIDENT = const(0)
MEDICAL = const(1)
EPIDEMIC = const(2)  # epidemic-control staff
SUPPLY = const(3)  # supply / delivery
SANITATION = const(4)
PROPERTY = const(5)  # property-management staff
EMERGENCY = const(6)
VISITOR = const(7)  # invited by a resident: one entry and one exit inside its window

NAMES = ("resident", "medical", "epidemic", "supply", "sanitation", "property", "emergency",
         "visitor")

# directions bitmask, in passes and device settings
IN = const(1)
OUT = const(2)
BOTH = const(3)


def name(role):
    return NAMES[role] if 0 <= role < len(NAMES) else "role" + str(role)
