"""Stable reason codes for gate decisions.

The numbers are written into event records (one byte) and shown on the device, in the
server and in exports, so they never change meaning: add new codes, never renumber.
Codes below 10 allow; 10 and above deny.
"""
from micropython import const

# allow
OK = const(0)  # resident with a valid pass
OK_EXEMPT = const(1)  # exempt role (medical, epidemic control, supply, ...)
OK_PASSBACK_SOFT = const(2)  # allowed, anti-passback violated in soft mode (flagged)
OK_TIME_UNTRUSTED = const(3)  # allowed under the permissive untrusted-time policy (flagged)

# the pass itself
MALFORMED = const(10)  # not a gatepass QR, bad base45/CBOR/COSE structure
UNKNOWN_KID = const(11)  # signed by a key this device does not trust
BAD_SIGNATURE = const(12)
WRONG_COMMUNITY = const(13)
NOT_YET_VALID = const(14)
EXPIRED = const(15)
REVOKED = const(16)
ROLE_NOT_ALLOWED = const(17)
DIRECTION_NOT_ALLOWED = const(18)

# temperature
FEVER = const(20)
NO_READING = const(21)  # nobody in front of the sensor: come closer
UNSTABLE = const(22)  # readings did not settle: retry
SENSOR_FAULT = const(23)
IMPLAUSIBLE = const(24)

# community rules
QUARANTINED = const(30)  # home unit/building under quarantine may not go out
MODE_CONTROL = const(31)  # control mode: residents stay in
MODE_SEALED = const(32)  # sealed: nobody out but exempt roles
PASSBACK = const(33)  # already inside: a shared screenshot or a second entry
TIME_UNTRUSTED = const(34)  # clock not trusted and the policy says deny
LOCKDOWN = const(35)  # staff locked this gate down remotely: only exempt roles pass

# the passage
TIMEOUT = const(40)  # a step of the passage timed out
INTERNAL_ERROR = const(41)
LOG_FULL = const(42)  # event log full of unuploaded events under the "stop" policy
STALE_BUNDLE = const(43)  # bundle record only: not newer than the applied one (replay/rollback)

_NAMES = {
    OK: ("OK", "Welcome"),
    OK_EXEMPT: ("OK_EXEMPT", "Welcome (duty)"),
    OK_PASSBACK_SOFT: ("OK_PASSBACK_SOFT", "Welcome - check"),
    OK_TIME_UNTRUSTED: ("OK_TIME_UNTRUSTED", "Welcome - no time"),
    MALFORMED: ("MALFORMED", "Not a valid pass"),
    UNKNOWN_KID: ("UNKNOWN_KID", "Unknown issuer"),
    BAD_SIGNATURE: ("BAD_SIGNATURE", "Pass forged"),
    WRONG_COMMUNITY: ("WRONG_COMMUNITY", "Other community"),
    NOT_YET_VALID: ("NOT_YET_VALID", "Pass not yet valid"),
    EXPIRED: ("EXPIRED", "Pass expired"),
    REVOKED: ("REVOKED", "Pass revoked"),
    ROLE_NOT_ALLOWED: ("ROLE_NOT_ALLOWED", "Role not admitted"),
    DIRECTION_NOT_ALLOWED: ("DIRECTION_NOT_ALLOWED", "Wrong direction"),
    FEVER: ("FEVER", "Fever - staff called"),
    NO_READING: ("NO_READING", "Come closer"),
    UNSTABLE: ("UNSTABLE", "Hold still - retry"),
    SENSOR_FAULT: ("SENSOR_FAULT", "Sensor fault"),
    IMPLAUSIBLE: ("IMPLAUSIBLE", "Retry reading"),
    QUARANTINED: ("QUARANTINED", "Unit quarantined"),
    MODE_CONTROL: ("MODE_CONTROL", "Stay home order"),
    MODE_SEALED: ("MODE_SEALED", "Community sealed"),
    PASSBACK: ("PASSBACK", "Already inside"),
    TIME_UNTRUSTED: ("TIME_UNTRUSTED", "Clock not set"),
    LOCKDOWN: ("LOCKDOWN", "Gate locked down"),
    TIMEOUT: ("TIMEOUT", "Timed out - retry"),
    INTERNAL_ERROR: ("INTERNAL_ERROR", "Device error"),
    LOG_FULL: ("LOG_FULL", "Log full - see staff"),
    STALE_BUNDLE: ("STALE_BUNDLE", "Old bundle refused"),
}


def allowed(code):
    """True when `code` lets the person pass."""
    return code < 10


def name(code):
    """Stable symbolic name of a reason code ('R<n>' when unknown)."""
    e = _NAMES.get(code)
    return e[0] if e else "R" + str(code)


def message(code):
    """Short display message (<= 20 characters) for a reason code."""
    e = _NAMES.get(code)
    return e[1] if e else "Code " + str(code)
