"""Stable reason codes for gate decisions, and the gate's message catalog.

The numbers are written into event records (one byte) and shown on the device, in the
server and in exports, so they never change meaning: add new codes, never renumber.
Codes below 10 allow; 10 and above deny.

This module is the one source of what the gate says: each code's English and Chinese
message, the fixed display texts (`texts()`: checking, ready, please wait, door alarms)
and the spoken prompt of each reason group (`prompt()`). `gatepass deploy` renders the
Chinese of all of them into the gate's glyph and voice files (host_tools/gatepass/technician/glyphs.py):
a Chinese message is at most 8 characters (one 128-px line of 16x16 glyphs).
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
ISOLATED = const(36)  # this pass is under home isolation until its end time: no exit
VISITOR_USED = const(37)  # visitor pass already used for its one entry (or its one exit)
VISITOR_NOT_ADMITTED = const(38)  # visitors are not admitted in this community mode
VISITOR_FULL = const(39)  # the gate's visitor table is full of live visitors: see staff

# the passage
TIMEOUT = const(40)  # a step of the passage timed out
INTERNAL_ERROR = const(41)
LOG_FULL = const(42)  # event log full of unuploaded events under the "stop" policy
STALE_BUNDLE = const(43)  # bundle record only: not newer than the applied one (replay/rollback)

_NAMES = {
    OK: ("OK", "Welcome", "欢迎通行"),
    OK_EXEMPT: ("OK_EXEMPT", "Welcome (duty)", "值勤人员通行"),
    OK_PASSBACK_SOFT: ("OK_PASSBACK_SOFT", "Welcome - check", "通行 待核查"),
    OK_TIME_UNTRUSTED: ("OK_TIME_UNTRUSTED", "Welcome - no time", "通行 时钟未校准"),
    MALFORMED: ("MALFORMED", "Not a valid pass", "通行证无效"),
    UNKNOWN_KID: ("UNKNOWN_KID", "Unknown issuer", "签发方未知"),
    BAD_SIGNATURE: ("BAD_SIGNATURE", "Pass forged", "通行证系伪造"),
    WRONG_COMMUNITY: ("WRONG_COMMUNITY", "Other community", "非本小区通行证"),
    NOT_YET_VALID: ("NOT_YET_VALID", "Pass not yet valid", "通行证未生效"),
    EXPIRED: ("EXPIRED", "Pass expired", "通行证已过期"),
    REVOKED: ("REVOKED", "Pass revoked", "通行证已注销"),
    ROLE_NOT_ALLOWED: ("ROLE_NOT_ALLOWED", "Role not admitted", "该身份不准通行"),
    DIRECTION_NOT_ALLOWED: ("DIRECTION_NOT_ALLOWED", "Wrong direction", "通行方向不符"),
    FEVER: ("FEVER", "Fever - staff called", "体温异常请稍候"),
    NO_READING: ("NO_READING", "Come closer", "请靠近测温"),
    UNSTABLE: ("UNSTABLE", "Hold still - retry", "请保持不动"),
    SENSOR_FAULT: ("SENSOR_FAULT", "Sensor fault", "测温设备故障"),
    IMPLAUSIBLE: ("IMPLAUSIBLE", "Retry reading", "请重新测温"),
    QUARANTINED: ("QUARANTINED", "Unit quarantined", "本户隔离中"),
    MODE_CONTROL: ("MODE_CONTROL", "Stay home order", "管控期间请居家"),
    MODE_SEALED: ("MODE_SEALED", "Community sealed", "小区封闭管理"),
    PASSBACK: ("PASSBACK", "Already inside", "已在小区内"),
    TIME_UNTRUSTED: ("TIME_UNTRUSTED", "Clock not set", "时钟未校准"),
    LOCKDOWN: ("LOCKDOWN", "Gate locked down", "本门暂停通行"),
    ISOLATED: ("ISOLATED", "Home isolation", "居家隔离中"),
    VISITOR_USED: ("VISITOR_USED", "Visitor pass used", "访客码已使用"),
    VISITOR_NOT_ADMITTED: ("VISITOR_NOT_ADMITTED", "No visitors now", "暂停访客进入"),
    VISITOR_FULL: ("VISITOR_FULL", "Visitor list full", "访客已满 请求助"),
    TIMEOUT: ("TIMEOUT", "Timed out - retry", "超时 请重试"),
    INTERNAL_ERROR: ("INTERNAL_ERROR", "Device error", "设备故障"),
    LOG_FULL: ("LOG_FULL", "Log full - see staff", "记录已满 请求助"),
    STALE_BUNDLE: ("STALE_BUNDLE", "Old bundle refused", "拒绝旧配置包"),
}


def allowed(code):
    """True when `code` lets the person pass."""
    return code < 10


def name(code):
    """Stable symbolic name of a reason code ('R<n>' when unknown)."""
    e = _NAMES.get(code)
    return e[0] if e else "R" + str(code)


def message(code, lang="en"):
    """Short display message (<= 20 characters) for a reason code; lang "zh": Chinese."""
    e = _NAMES.get(code)
    if e is None:
        return "Code " + str(code)
    return e[2] if lang == "zh" else e[1]


# fixed display texts besides the reason messages: (English as the gate shows it, Chinese)
_TEXTS = (
    ("Checking", "正在核验"),
    ("ready", "请扫码通行"),
    ("Please wait", "请稍候"),
    ("one at a time", "请逐一通行"),
    ("Close the door", "请关门"),
    ("Door forced", "门被强行打开"),
)

_ZH = {}


def texts():
    """Every (English, Chinese) pair the gate can show: reason messages, then fixed texts."""
    out = [(e[1], e[2]) for _c, e in sorted(_NAMES.items())]
    out.extend(_TEXTS)
    return out


def zh(text):
    """The Chinese of an English catalog text, or None when `text` is not in the catalog
    (a gate name, a temperature, a pass label)."""
    if not _ZH:
        for en, z in texts():
            _ZH[en] = z
    return _ZH.get(text)


# spoken prompts, one per reason group (voice modules: drivers/voice.py)
_P_WELCOME = "欢迎，体温正常请通行"
_P_DUTY = "值勤人员请通行"
_P_FEVER = "体温异常，请稍候"
_P_INVALID = "通行证无效"
_P_CLOSER = "请靠近测温"
_P_DENIED = "暂不能通行，请联系工作人员"
_P_FAULT = "设备故障，请联系工作人员"
_P_WAIT = "请稍候，逐一通行"


def prompt(code):
    """The Chinese prompt spoken for reason `code` (its group's), None for bundle-only codes."""
    if code == OK or code == OK_PASSBACK_SOFT or code == OK_TIME_UNTRUSTED:
        return _P_WELCOME
    if code == OK_EXEMPT:
        return _P_DUTY
    if code == FEVER:
        return _P_FEVER
    if MALFORMED <= code <= DIRECTION_NOT_ALLOWED:
        return _P_INVALID
    if code in (NO_READING, UNSTABLE, IMPLAUSIBLE, TIMEOUT):
        return _P_CLOSER
    if QUARANTINED <= code < TIMEOUT:  # the community rules, 30..39
        return _P_DENIED
    if code in (SENSOR_FAULT, INTERNAL_ERROR, LOG_FULL):
        return _P_FAULT
    return None


def prompts():
    """Every distinct prompt, in a fixed order (the voice file's numbering)."""
    return [_P_WELCOME, _P_DUTY, _P_FEVER, _P_INVALID, _P_CLOSER, _P_DENIED, _P_FAULT, _P_WAIT]


def wait_prompt():
    """Said when a second person scans while the door is still busy."""
    return _P_WAIT
