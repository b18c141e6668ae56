"""Device settings: defaults and strict validation.

Settings arrive in the signed bundle (a map) or the device config file. `Settings(d)`
merges `d` over DEFAULTS, validates every key and raises ValueError naming the bad key;
an unknown key is an error too (a typo must not silently fall back to a default).
Enumerations accept their name or their number; role sets are lists of role numbers
and are held as bitmasks. See docs/reason-codes.md for how the policy uses them.
"""
from micropython import const

from app import roles

MODE_PREVENTION = const(0)  # normal checks
MODE_CONTROL = const(1)  # residents stay in (exempt roles and other roles may go out)
MODE_SEALED = const(2)  # nobody out but exempt roles; only residents and exempt roles in
MODES = ("prevention", "control", "sealed")

PASSBACK_OFF = const(0)
PASSBACK_SOFT = const(1)  # allow, flag the record and the display
PASSBACK_HARD = const(2)  # deny
PASSBACK = ("off", "soft", "hard")

UNTRUSTED_DENY = const(0)  # clock not trusted: deny every pass
UNTRUSTED_ALLOW = const(1)  # clock not trusted: allow, flagged (expired still denied)
UNTRUSTED = ("deny", "allow")

LOG_STOP = const(0)  # log full of unuploaded events: refuse new passages
LOG_DROP_OLDEST = const(1)  # drop the oldest unuploaded segment, count the drop
LOG_FULL = ("stop", "drop_oldest")

_ALL_ROLES = (roles.RESIDENT, roles.MEDICAL, roles.EPIDEMIC, roles.SUPPLY, roles.SANITATION,
              roles.PROPERTY, roles.EMERGENCY, roles.VISITOR)
_NROLES = const(8)

DEFAULTS = {
    "mode": "prevention",
    "threshold": 37.3,  # degrees C, fever at or above
    # exempt from community mode restrictions (control / sealed)
    "exempt_roles": [roles.MEDICAL, roles.EPIDEMIC, roles.SUPPLY, roles.SANITATION,
                     roles.PROPERTY, roles.EMERGENCY],
    # may leave a quarantined home unit/building (on-duty health and emergency staff)
    "quarantine_exempt_roles": [roles.MEDICAL, roles.EPIDEMIC, roles.EMERGENCY],
    "quarantine_urgent": True,  # a denied exit from a quarantined unit alerts staff
    "admitted_roles": list(_ALL_ROLES),  # roles this gate serves at all
    "passback": "hard",
    "passback_window_s": 86400,  # an entry is forgotten after this long; 0 = never
    "passback_exempt_roles": [roles.EMERGENCY],
    # community modes in which visitor passes may come in (never sealed: refused there
    # whatever this says, and a list naming it is an error)
    "visitor_modes": ["prevention"],
    "untrusted_time": "allow",
    "unlock_s": 5,  # relay pulse, seconds
    # body = obj + comp_k_pm * (obj - amb) / 1000 + comp_offset_cc, all integers (cC =
    # centi-degrees C): no float decides a fever (the ESP32's floats are single precision)
    "comp_k_pm": 100,  # per-mille
    "comp_offset_cc": 0,
    "skin_min_cc": 3000,  # plausible skin (object) temperature window, cC
    "skin_max_cc": 4200,
    "log_full": "drop_oldest",
    "log_near_full_pct": 80,
}


def _num(d, key, lo, hi, integer=False):
    v = d[key]
    # bool is an int on CPython (not on MicroPython): reject it on both
    if v is True or v is False or not isinstance(v, (int, float)):
        raise ValueError("setting %s: not a number" % key)
    if integer and not isinstance(v, int):
        if v != int(v):
            raise ValueError("setting %s: not an integer" % key)
        v = int(v)
    if v < lo or v > hi:
        raise ValueError("setting %s: %s outside %s..%s" % (key, v, lo, hi))
    return v


def _enum(d, key, names):
    v = d[key]
    if isinstance(v, str):
        for i in range(len(names)):
            if names[i] == v:
                return i
    elif isinstance(v, int) and v is not True and v is not False and 0 <= v < len(names):
        return v
    raise ValueError("setting %s: %s not one of %s" % (key, v, "/".join(names)))


def _roles(d, key):
    v = d[key]
    if not isinstance(v, (list, tuple)):
        raise ValueError("setting %s: not a list of roles" % key)
    mask = 0
    for r in v:
        if r is True or r is False or not isinstance(r, int) or not 0 <= r < _NROLES:
            raise ValueError("setting %s: bad role %s" % (key, r))
        mask |= 1 << r
    return mask


def _modes(d, key):
    v = d[key]
    if not isinstance(v, (list, tuple)):
        raise ValueError("setting %s: not a list of modes" % key)
    mask = 0
    for m in v:
        i = _enum({key: m}, key, MODES)
        if i == MODE_SEALED:
            raise ValueError("setting %s: visitors are never admitted in sealed mode" % key)
        mask |= 1 << i
    return mask


def _bool(d, key):
    v = d[key]
    if v is not True and v is not False:
        raise ValueError("setting %s: not true/false" % key)
    return v


def _mask_list(mask):
    return [r for r in _ALL_ROLES if mask & (1 << r)]


class Settings:
    """Validated device settings; role sets as bitmasks (`mask & (1 << role)`)."""

    def __init__(self, d=None):
        m = {}
        for k in DEFAULTS:
            m[k] = DEFAULTS[k]
        if d:
            for k in d:
                if k not in DEFAULTS:
                    raise ValueError("unknown setting: %s" % k)
                m[k] = d[k]
        self.mode = _enum(m, "mode", MODES)
        self.lockdown = False  # set by a remote command (app/remote.py), never by a bundle
        self.threshold = float(_num(m, "threshold", 35.0, 40.0))
        self.threshold_cc = int(round(self.threshold * 100))  # compared in centi-degrees
        self.exempt = _roles(m, "exempt_roles")
        self.quarantine_exempt = _roles(m, "quarantine_exempt_roles")
        self.quarantine_urgent = _bool(m, "quarantine_urgent")
        self.admitted = _roles(m, "admitted_roles")
        self.passback = _enum(m, "passback", PASSBACK)
        self.passback_window_s = _num(m, "passback_window_s", 0, 30 * 86400, True)
        self.passback_exempt = _roles(m, "passback_exempt_roles")
        self.untrusted_time = _enum(m, "untrusted_time", UNTRUSTED)
        self.visitor_modes = _modes(m, "visitor_modes")  # bitmask of modes (1 << MODE_*)
        self.unlock_s = _num(m, "unlock_s", 1, 30, True)
        self.comp_k_pm = _num(m, "comp_k_pm", 0, 500, True)
        self.comp_offset_cc = _num(m, "comp_offset_cc", -300, 300, True)
        self.skin_min_cc = _num(m, "skin_min_cc", 2000, 4000, True)
        self.skin_max_cc = _num(m, "skin_max_cc", 3500, 4500, True)
        if self.skin_min_cc >= self.skin_max_cc:
            raise ValueError("setting skin_min_cc: must be below skin_max_cc")
        self.log_full = _enum(m, "log_full", LOG_FULL)
        self.log_near_full_pct = _num(m, "log_near_full_pct", 50, 99, True)

    def to_dict(self):
        """Canonical map (names for enumerations, sorted role lists): Settings(s.to_dict()) == s."""
        return {
            "mode": MODES[self.mode],
            "threshold": self.threshold,
            "exempt_roles": _mask_list(self.exempt),
            "quarantine_exempt_roles": _mask_list(self.quarantine_exempt),
            "quarantine_urgent": self.quarantine_urgent,
            "admitted_roles": _mask_list(self.admitted),
            "passback": PASSBACK[self.passback],
            "passback_window_s": self.passback_window_s,
            "passback_exempt_roles": _mask_list(self.passback_exempt),
            "untrusted_time": UNTRUSTED[self.untrusted_time],
            "visitor_modes": [MODES[i] for i in range(len(MODES)) if self.visitor_modes & (1 << i)],
            "unlock_s": self.unlock_s,
            "comp_k_pm": self.comp_k_pm,
            "comp_offset_cc": self.comp_offset_cc,
            "skin_min_cc": self.skin_min_cc,
            "skin_max_cc": self.skin_max_cc,
            "log_full": LOG_FULL[self.log_full],
            "log_near_full_pct": self.log_near_full_pct,
        }

    def updated(self, d):
        """A new Settings with `d` applied over these (self is unchanged)."""
        m = self.to_dict()
        for k in d:
            m[k] = d[k]
        return Settings(m)

    def __eq__(self, other):
        return isinstance(other, Settings) and self.to_dict() == other.to_dict()


def validate(d):
    """Validate a (partial) settings map; returns the complete canonical map."""
    return Settings(d).to_dict()
