"""The gate decision: a pure function of what the gate knows at one passage.

decide(p, temp, direction, now, trusted, s, lists, apb, visits) -> Decision

Checks run in this order; the first that denies gives the reason code (see
docs/reason-codes.md for why this order):

 1. fever (reading at or above s.threshold): deny, alarm, urgent, whatever the pass is
 2. pass rejected by validation (int code from passes.validate)
 3. role not admitted at this gate
 4. pass revoked
 5. validity window (nbf/exp) with trusted time; with untrusted time: certainly expired
    (the untrusted clock is a lower bound) or the untrusted-time policy
 6. direction not allowed by the pass
 7. going out under home isolation (this pass listed with an end time: refused until
    the end, whatever the role; the gate lifts it by itself once even the clock's lower
    bound is past the end, no new bundle needed), then going out from a quarantined
    unit/building (roles exempt per settings)
 8. remote lockdown; a visitor coming in while visitors are not admitted in this mode
    (s.visitor_modes; never in sealed mode); community mode (control: residents stay
    in; sealed: only exempt roles out, only residents and exempt roles in)
 9. visitor pass use: one entry, then one exit (the gate's visitor table, app/visits.py,
    and the other gates' passages through the anti-passback store); a new visitor the
    table cannot remember is refused
10. anti-passback (hard: deny; soft: allow, flagged)
11. temperature not measured (no reading / unstable / sensor fault / implausible)
12. allow: OK_TIME_UNTRUSTED > OK_PASSBACK_SOFT > OK_EXEMPT > OK
"""
from micropython import const

from app import reasons, roles
from app import record
from app import settings as _st
from app import visits as _visits

BEEP_OK = const(1)  # one short beep
BEEP_WARN = const(2)  # allowed with a warning: two short beeps
BEEP_DENY = const(3)  # one long beep
BEEP_RETRY = const(4)  # come closer / hold still: three short beeps
BEEP_ALARM = const(5)  # fever: alarm until staff acknowledge


_RETRY = (reasons.NO_READING, reasons.UNSTABLE, reasons.IMPLAUSIBLE)
_MEASURE = (reasons.NO_READING, reasons.UNSTABLE, reasons.SENSOR_FAULT, reasons.IMPLAUSIBLE)


class Reading:
    """One accepted temperature measurement in centi-degrees C (ints; body_cc is
    compensated). Same attributes as app.thermo.Reading; the policy reads only body_cc."""

    def __init__(self, body_cc, object_cc=None, ambient_cc=None):
        self.body_cc = body_cc
        self.object_cc = object_cc
        self.ambient_cc = ambient_cc


class Decision:
    """Outcome of one passage.

    allow: bool; reason: reasons code; detail: a second reason code or 0 (e.g. the pass
    problem behind a FEVER); message: display text (<= 20 chars); unlock_s: relay pulse
    seconds, 0 whenever denied; alarm: sound the local alarm; urgent: raise an urgent
    event for staff; flagged: allowed with a warning; retry: the person can fix it by
    measuring again; beep: BEEP_* pattern.
    """

    def __init__(self, allow, reason, detail, unlock_s, alarm=False, urgent=False,
                 flagged=False):
        self.allow = allow
        self.reason = reason
        self.detail = detail
        self.message = reasons.message(reason)
        self.unlock_s = unlock_s if allow else 0
        self.alarm = alarm
        self.urgent = urgent
        self.flagged = flagged and allow
        self.retry = (not allow) and reason in _RETRY
        if alarm:
            self.beep = BEEP_ALARM
        elif allow:
            self.beep = BEEP_WARN if self.flagged else BEEP_OK
        else:
            self.beep = BEEP_RETRY if self.retry else BEEP_DENY

    def record_flags(self, direction, time_trusted):
        """Flags byte for the event record of this decision."""
        f = record.F_TIME_TRUSTED if time_trusted else 0
        if self.allow:
            f |= record.F_ALLOWED
        if direction == roles.OUT:
            f |= record.F_OUT
        elif direction == roles.IN:
            f |= record.F_IN
        if self.urgent:
            f |= record.F_URGENT
        if self.flagged:
            f |= record.F_FLAGGED
        if self.alarm:
            f |= record.F_ALARM
        return f

    def __repr__(self):
        return "Decision(%s, %s, detail=%s, unlock=%s, alarm=%s, urgent=%s, flagged=%s)" % (
            self.allow, reasons.name(self.reason), reasons.name(self.detail) if self.detail else 0,
            self.unlock_s, self.alarm, self.urgent, self.flagged)


def _deny(reason, detail=0, urgent=False):
    return Decision(False, reason, detail, 0, False, urgent)


def _body_cc(temp):
    # a Reading's compensated body temperature in centi-degrees (an int), or None
    if isinstance(temp, int):
        return None
    b = getattr(temp, "body_cc", None)
    if b is None:
        return None
    if not isinstance(b, int):
        raise TypeError("body_cc must be an int (centi-degrees): no float decides a fever")
    return b


def is_fever(temp, s):
    """True when `temp` is a reading at or above the threshold: integers (centi-C) on
    both sides, the very value the event record stores (record.clamp_cc)."""
    if isinstance(temp, int):
        return temp == reasons.FEVER
    cc = _body_cc(temp)
    return cc is not None and cc >= s.threshold_cc


def decide(p, temp, direction, now, trusted, s, lists=None, apb=None, visits=None):
    """Decide one passage.

    p: Pass (attributes kid, iss, cti, nbf, exp, iat, role, building, entrance, room,
       dirs, label) or an int reason code from validation;
    temp: Reading (degrees C) or an int code NO_READING/UNSTABLE/SENSOR_FAULT/IMPLAUSIBLE;
    direction: roles.IN or roles.OUT;
    now: unix seconds or None (no time at all); trusted: bool (if False, `now` is only
       a lower bound on the real time: clock.Clock guarantees it);
    s: settings.Settings; lists: has is_revoked(pid8), is_quarantined(b, e, r) and
       isolated_until(pid8) -> end unix s or 0, or None;
    apb: anti-passback store with last(pid8) -> (direction, unix) or None, or None;
    visits: visitor table with state(pid8, now) -> app.visits NONE/ENTERED/EXITED/FULL,
       or None (with neither visits nor apb a gate cannot remember a visitor: visitors
       are refused).
    """
    # 1. a fever alarms whatever else is wrong: it is a health event, not an access one
    if is_fever(temp, s):
        return Decision(False, reasons.FEVER, p if isinstance(p, int) else 0, 0, True, True)

    # 2. validation failed
    if isinstance(p, int):
        return _deny(p if p >= 10 else reasons.INTERNAL_ERROR)

    role = p.role
    # 3. role
    if not (isinstance(role, int) and 0 <= role < 8 and s.admitted & (1 << role)):
        return _deny(reasons.ROLE_NOT_ALLOWED)
    bit = 1 << role
    pid = record.pass_id(p.cti)

    # 4. revoked
    if lists is not None and lists.is_revoked(pid):
        return _deny(reasons.REVOKED)

    # 5. validity window and time trust
    time_flag = False
    if now is not None:
        if now >= p.exp:
            return _deny(reasons.EXPIRED)  # sound even untrusted: now is a lower bound
        if trusted and now < p.nbf:
            return _deny(reasons.NOT_YET_VALID)
    if not trusted:
        if s.untrusted_time == _st.UNTRUSTED_DENY:
            return _deny(reasons.TIME_UNTRUSTED)
        time_flag = True

    # 6. the pass's own directions
    if not (p.dirs & direction):
        return _deny(reasons.DIRECTION_NOT_ALLOWED)

    out = direction == roles.OUT
    visitor = role == roles.VISITOR
    # 7. home isolation, then quarantine: only going out is restricted (coming home is
    # what both want). The end time is compared with `now` whether trusted or not: an
    # untrusted clock is a lower bound, so `now >= end` means the end has certainly passed.
    if out and lists is not None:
        end = lists.isolated_until(pid)
        if end and (now is None or now < end):
            return _deny(reasons.ISOLATED, 0, s.quarantine_urgent)
        if not (s.quarantine_exempt & bit) and p.building \
                and lists.is_quarantined(p.building, p.entrance, p.room):
            return _deny(reasons.QUARANTINED, 0, s.quarantine_urgent)

    # 8. remote lockdown, visitors in this mode, then community mode
    exempt = s.exempt & bit
    if not exempt and s.lockdown:
        return _deny(reasons.LOCKDOWN)
    if visitor and not out and (s.mode == _st.MODE_SEALED
                                or not (s.visitor_modes & (1 << s.mode))):
        return _deny(reasons.VISITOR_NOT_ADMITTED)
    if not exempt:
        if s.mode == _st.MODE_SEALED:
            if out:
                return _deny(reasons.MODE_SEALED)
            if role != roles.RESIDENT:
                return _deny(reasons.MODE_SEALED)
        elif s.mode == _st.MODE_CONTROL and out and role == roles.RESIDENT:
            return _deny(reasons.MODE_CONTROL)

    # 9. a visitor pass: one entry, then one exit. The table is this gate's memory; the
    # anti-passback store adds the community's other gates (peer sync). An exit is never
    # refused for want of room (nobody is kept inside), an entry is.
    if visitor:
        if visits is None and apb is None:
            return _deny(reasons.VISITOR_NOT_ADMITTED)
        vs = visits.state(pid, now) if visits is not None else _visits.NONE
        last = apb.last(pid) if apb is not None else None
        if out:
            if vs == _visits.EXITED or (last is not None and last[0] == roles.OUT):
                return _deny(reasons.VISITOR_USED)
        else:
            if vs == _visits.ENTERED or vs == _visits.EXITED or last is not None:
                return _deny(reasons.VISITOR_USED)
            if vs == _visits.FULL:
                return _deny(reasons.VISITOR_FULL, 0, True)

    # 10. anti-passback: entering again without having gone out
    soft = False
    if (direction == roles.IN and apb is not None and s.passback != _st.PASSBACK_OFF
            and not (s.passback_exempt & bit)):
        last = apb.last(pid)
        if last is not None and last[0] == roles.IN:
            w = s.passback_window_s
            if w == 0 or now is None or now - last[1] < w:
                if s.passback == _st.PASSBACK_HARD:
                    return _deny(reasons.PASSBACK)
                soft = True

    # 11. temperature must have been measured
    if isinstance(temp, int):
        return _deny(temp if temp in _MEASURE else reasons.SENSOR_FAULT)
    if _body_cc(temp) is None:
        return _deny(reasons.NO_READING)

    # 12. allow
    if time_flag:
        reason = reasons.OK_TIME_UNTRUSTED
        detail = reasons.OK_PASSBACK_SOFT if soft else 0
    elif soft:
        reason, detail = reasons.OK_PASSBACK_SOFT, 0
    else:
        reason = reasons.OK_EXEMPT if exempt else reasons.OK
        detail = 0
    return Decision(True, reason, detail, s.unlock_s, False, False, time_flag or soft)
