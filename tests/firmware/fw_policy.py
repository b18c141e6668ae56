"""Gate policy: one test per rule of DESIGN.md section 3, on CPython and MicroPython."""
from app import policy, reasons, record, roles
from app.settings import Settings

from core_doubles import DAY, NOW, FakeApb, FakeLists, FakePass, raw_pair, reading

IN = roles.IN
OUT = roles.OUT
EXEMPT_ROLES = (roles.MEDICAL, roles.EPIDEMIC, roles.SUPPLY, roles.SANITATION, roles.PROPERTY,
                roles.EMERGENCY)


def ok_temp():
    return policy.Reading(3660, 3490, 2200)


def decide(p=None, temp=None, direction=IN, now=NOW, trusted=True, s=None, lists=None, apb=None):
    return policy.decide(FakePass() if p is None else p, ok_temp() if temp is None else temp,
                         direction, now, trusted, Settings() if s is None else s,
                         FakeLists() if lists is None else lists, FakeApb() if apb is None else apb)


def assert_denied(d, reason):
    assert not d.allow, d
    assert d.reason == reason, d
    assert d.unlock_s == 0
    assert d.beep in (policy.BEEP_DENY, policy.BEEP_RETRY, policy.BEEP_ALARM)
    assert d.message == reasons.message(reason)


def assert_allowed(d, reason=reasons.OK):
    assert d.allow, d
    assert d.reason == reason, d
    assert d.unlock_s == Settings().unlock_s
    assert not d.alarm


# --- only valid passes of this community

def test_rule_valid_resident_pass_allowed_both_ways():
    assert_allowed(decide(direction=IN))
    assert_allowed(decide(direction=OUT))


def test_rule_pass_rejected_by_validation_is_denied_with_its_code():
    for code in (reasons.MALFORMED, reasons.UNKNOWN_KID, reasons.BAD_SIGNATURE,
                 reasons.WRONG_COMMUNITY, reasons.NOT_YET_VALID, reasons.EXPIRED):
        assert_denied(decide(p=code), code)


def test_rule_an_allow_code_in_place_of_a_pass_is_an_internal_error():
    assert_denied(decide(p=reasons.OK), reasons.INTERNAL_ERROR)


def test_rule_role_not_admitted_at_this_gate():
    s = Settings({"admitted_roles": [roles.RESIDENT]})
    assert_denied(decide(p=FakePass(role=roles.SUPPLY), s=s), reasons.ROLE_NOT_ALLOWED)
    assert_denied(decide(p=FakePass(role=9)), reasons.ROLE_NOT_ALLOWED)
    assert_allowed(decide(p=FakePass(role=roles.RESIDENT), s=s))


# --- exempt roles

def test_rule_exempt_roles_pass_with_ok_exempt():
    for r in EXEMPT_ROLES:
        assert_allowed(decide(p=FakePass(role=r), direction=OUT), reasons.OK_EXEMPT)


def test_rule_exempt_roles_come_from_settings():
    s = Settings({"exempt_roles": [roles.MEDICAL], "mode": "sealed"})
    assert_allowed(decide(p=FakePass(role=roles.MEDICAL), direction=OUT, s=s), reasons.OK_EXEMPT)
    assert_denied(decide(p=FakePass(role=roles.SUPPLY), direction=OUT, s=s), reasons.MODE_SEALED)


# --- temperature for everyone

def test_rule_fever_at_threshold_denies_alarms_and_is_urgent():
    d = decide(temp=reading(3730))
    assert_denied(d, reasons.FEVER)
    assert d.alarm and d.urgent and d.beep == policy.BEEP_ALARM


def test_rule_fever_threshold_boundary_in_centi_degrees():
    # readings measured from MLX90614 raw words: integers from the sensor to the compare,
    # so the outcome cannot depend on the float width (the ESP32's is single precision)
    below, at = reading(3729), reading(3730)
    assert below.body_cc == 3729 and at.body_cc == 3730
    assert_allowed(decide(temp=below))
    assert_denied(decide(temp=at), reasons.FEVER)
    assert_denied(decide(temp=reading(4100)), reasons.FEVER)
    assert raw_pair(3729) != raw_pair(3730)


def test_rule_fever_threshold_from_settings():
    s = Settings({"threshold": 37.0, "comp_k_pm": 120, "comp_offset_cc": -15})
    assert_denied(decide(temp=reading(3700, s), s=s), reasons.FEVER)
    assert_allowed(decide(temp=reading(3699, s), s=s))


def test_rule_fever_applies_to_exempt_roles_and_both_directions():
    for r in EXEMPT_ROLES:
        for direction in (IN, OUT):
            d = decide(p=FakePass(role=r), temp=reading(3850), direction=direction)
            assert_denied(d, reasons.FEVER)
            assert d.urgent


def test_rule_fever_alarms_even_for_a_bad_pass_and_keeps_the_pass_problem():
    d = decide(p=reasons.BAD_SIGNATURE, temp=reading(3800))
    assert_denied(d, reasons.FEVER)
    assert d.alarm and d.urgent
    assert d.detail == reasons.BAD_SIGNATURE


def test_rule_fever_reported_by_the_sampler_as_a_code():
    d = decide(temp=reasons.FEVER)
    assert_denied(d, reasons.FEVER)
    assert d.alarm


def test_rule_no_reading_denies_and_asks_to_come_closer():
    d = decide(temp=reasons.NO_READING)
    assert_denied(d, reasons.NO_READING)
    assert d.retry and d.beep == policy.BEEP_RETRY and not d.alarm
    assert_denied(decide(temp=policy.Reading(None)), reasons.NO_READING)


def test_rule_unstable_and_implausible_readings_ask_to_retry():
    for code in (reasons.UNSTABLE, reasons.IMPLAUSIBLE):
        d = decide(temp=code)
        assert_denied(d, code)
        assert d.retry


def test_rule_sensor_fault_denies_without_retry():
    d = decide(temp=reasons.SENSOR_FAULT)
    assert_denied(d, reasons.SENSOR_FAULT)
    assert not d.retry
    assert_denied(decide(temp=reasons.MALFORMED), reasons.SENSOR_FAULT)


def test_rule_temperature_is_required_from_exempt_roles_too():
    for r in EXEMPT_ROLES:
        assert_denied(decide(p=FakePass(role=r), temp=reasons.NO_READING), reasons.NO_READING)


def test_rule_body_temperature_compensation_uses_settings():
    from app import thermo

    p = thermo.Params.from_settings(Settings({"comp_k_pm": 100, "comp_offset_cc": 20}))
    assert p.body(3500, 2500) == 3500 + 100 + 20
    assert thermo.Params.from_settings(Settings({"comp_k_pm": 300})).body(3500, 3500) == 3500


# --- revoked, validity window, time trust

def test_rule_revoked_pass_denied():
    p = FakePass()
    lists = FakeLists(revoked=[record.pass_id(p.cti)])
    assert_denied(decide(p=p, lists=lists), reasons.REVOKED)
    assert_allowed(decide(p=FakePass(cti=b"another-pass-id")))


def test_rule_revoked_checked_by_the_first_8_bytes_of_cti():
    p = FakePass(cti=b"ABCDEFGH-tail-1")
    assert_denied(decide(p=p, lists=FakeLists(revoked=[b"ABCDEFGH"])), reasons.REVOKED)


def test_rule_expired_with_trusted_time():
    p = FakePass(nbf=NOW - 10 * DAY, exp=NOW)
    assert_denied(decide(p=p, now=NOW), reasons.EXPIRED)
    assert_allowed(decide(p=p, now=NOW - 1))


def test_rule_not_yet_valid_with_trusted_time():
    p = FakePass(nbf=NOW + 1, exp=NOW + DAY)
    assert_denied(decide(p=p, now=NOW), reasons.NOT_YET_VALID)
    assert_allowed(decide(p=p, now=NOW + 1))


def test_rule_untrusted_time_deny_policy():
    s = Settings({"untrusted_time": "deny"})
    assert_denied(decide(trusted=False, s=s), reasons.TIME_UNTRUSTED)
    assert_denied(decide(trusted=False, now=None, s=s), reasons.TIME_UNTRUSTED)


def test_rule_untrusted_time_allow_policy_is_flagged_never_silent():
    d = decide(trusted=False, s=Settings({"untrusted_time": "allow"}))
    assert_allowed(d, reasons.OK_TIME_UNTRUSTED)
    assert d.flagged and d.beep == policy.BEEP_WARN
    assert d.record_flags(IN, False) & record.F_FLAGGED
    assert not d.record_flags(IN, False) & record.F_TIME_TRUSTED


def test_rule_untrusted_time_still_denies_a_certainly_expired_pass():
    # untrusted now is a lower bound (clock floor): exp <= now is certain
    p = FakePass(nbf=NOW - 10 * DAY, exp=NOW - DAY)
    assert_denied(decide(p=p, trusted=False), reasons.EXPIRED)


def test_rule_untrusted_time_cannot_prove_not_yet_valid():
    # the real time may be later than the lower bound: the untrusted policy decides
    p = FakePass(nbf=NOW + DAY, exp=NOW + 10 * DAY)
    assert_allowed(decide(p=p, trusted=False), reasons.OK_TIME_UNTRUSTED)


# --- the pass's own directions

def test_rule_direction_not_allowed_by_the_pass():
    assert_denied(decide(p=FakePass(dirs=IN), direction=OUT), reasons.DIRECTION_NOT_ALLOWED)
    assert_denied(decide(p=FakePass(dirs=OUT), direction=IN), reasons.DIRECTION_NOT_ALLOWED)
    assert_allowed(decide(p=FakePass(dirs=IN), direction=IN))


# --- quarantine

def test_rule_quarantined_unit_may_not_go_out():
    lists = FakeLists(quarantined=[(3, 1, 1203)])
    d = decide(direction=OUT, lists=lists)
    assert_denied(d, reasons.QUARANTINED)
    assert d.urgent and not d.alarm


def test_rule_quarantined_building_or_entrance_may_not_go_out():
    for q in ((3, 0, 0), (3, 1, 0)):
        assert_denied(decide(direction=OUT, lists=FakeLists(quarantined=[q])), reasons.QUARANTINED)
    assert_allowed(decide(direction=OUT, lists=FakeLists(quarantined=[(3, 2, 0), (4, 0, 0)])))


def test_rule_quarantined_unit_may_come_home():
    assert_allowed(decide(direction=IN, lists=FakeLists(quarantined=[(3, 1, 1203)])))


def test_rule_quarantine_exempt_roles_per_settings():
    lists = FakeLists(quarantined=[(3, 0, 0)])
    doc = FakePass(role=roles.MEDICAL)
    assert_allowed(decide(p=doc, direction=OUT, lists=lists), reasons.OK_EXEMPT)
    courier = FakePass(role=roles.SUPPLY)
    assert_denied(decide(p=courier, direction=OUT, lists=lists), reasons.QUARANTINED)
    s = Settings({"quarantine_exempt_roles": []})
    assert_denied(decide(p=doc, direction=OUT, lists=lists, s=s), reasons.QUARANTINED)


def test_rule_quarantine_urgent_flag_from_settings():
    lists = FakeLists(quarantined=[(3, 1, 1203)])
    d = decide(direction=OUT, lists=lists, s=Settings({"quarantine_urgent": False}))
    assert_denied(d, reasons.QUARANTINED)
    assert not d.urgent


def test_rule_pass_without_home_unit_is_never_quarantined():
    lists = FakeLists(quarantined=[(0, 0, 0)])
    assert_allowed(decide(p=FakePass(unit=(0, 0, 0)), direction=OUT, lists=lists))


# --- community modes

def test_rule_mode_prevention_lets_residents_out():
    assert_allowed(decide(direction=OUT, s=Settings({"mode": "prevention"})))


def test_rule_mode_control_residents_stay_in():
    s = Settings({"mode": "control"})
    assert_denied(decide(direction=OUT, s=s), reasons.MODE_CONTROL)
    assert_allowed(decide(direction=IN, s=s))


def test_rule_mode_control_exempt_and_other_roles_may_go_out():
    s = Settings({"mode": "control", "exempt_roles": [roles.MEDICAL]})
    assert_allowed(decide(p=FakePass(role=roles.MEDICAL), direction=OUT, s=s), reasons.OK_EXEMPT)
    # a non-resident, non-exempt role (a courier) is not held in by control mode
    assert_allowed(decide(p=FakePass(role=roles.SUPPLY), direction=OUT, s=s))


def test_rule_mode_sealed_nobody_out_but_exempt_roles():
    s = Settings({"mode": "sealed", "exempt_roles": [roles.MEDICAL]})
    assert_denied(decide(direction=OUT, s=s), reasons.MODE_SEALED)
    assert_denied(decide(p=FakePass(role=roles.SUPPLY), direction=OUT, s=s), reasons.MODE_SEALED)
    assert_allowed(decide(p=FakePass(role=roles.MEDICAL), direction=OUT, s=s), reasons.OK_EXEMPT)


def test_rule_mode_sealed_only_residents_and_exempt_roles_enter():
    s = Settings({"mode": "sealed", "exempt_roles": [roles.MEDICAL]})
    assert_allowed(decide(direction=IN, s=s))
    assert_allowed(decide(p=FakePass(role=roles.MEDICAL), direction=IN, s=s), reasons.OK_EXEMPT)
    assert_denied(decide(p=FakePass(role=roles.SUPPLY), direction=IN, s=s), reasons.MODE_SEALED)


def test_rule_mode_accepts_numbers():
    assert Settings({"mode": 2}).mode == Settings({"mode": "sealed"}).mode


# --- anti-passback

def _entered(p, t=NOW - 60):
    apb = FakeApb()
    apb.record(record.pass_id(p.cti), IN, t)
    return apb


def test_rule_passback_hard_denies_a_second_entry():
    p = FakePass()
    assert_denied(decide(p=p, apb=_entered(p)), reasons.PASSBACK)


def test_rule_passback_soft_allows_flagged():
    p = FakePass()
    d = decide(p=p, apb=_entered(p), s=Settings({"passback": "soft"}))
    assert_allowed(d, reasons.OK_PASSBACK_SOFT)
    assert d.flagged
    assert d.record_flags(IN, True) & record.F_FLAGGED


def test_rule_passback_off():
    p = FakePass()
    assert_allowed(decide(p=p, apb=_entered(p), s=Settings({"passback": "off"})))


def test_rule_passback_exit_then_entry_is_fine():
    p = FakePass()
    apb = _entered(p)
    apb.record(record.pass_id(p.cti), OUT, NOW - 30)
    assert_allowed(decide(p=p, apb=apb))


def test_rule_passback_going_out_twice_is_not_blocked():
    p = FakePass()
    apb = FakeApb()
    apb.record(record.pass_id(p.cti), OUT, NOW - 30)
    assert_allowed(decide(p=p, apb=apb, direction=OUT))


def test_rule_passback_entry_forgotten_after_the_window():
    p = FakePass()
    s = Settings({"passback_window_s": 3600})
    assert_allowed(decide(p=p, apb=_entered(p, NOW - 3600), s=s))
    assert_denied(decide(p=p, apb=_entered(p, NOW - 3599), s=s), reasons.PASSBACK)


def test_rule_passback_exempt_roles():
    p = FakePass(role=roles.EMERGENCY)
    assert_allowed(decide(p=p, apb=_entered(p)), reasons.OK_EXEMPT)
    s = Settings({"passback_exempt_roles": []})
    assert_denied(decide(p=p, apb=_entered(p), s=s), reasons.PASSBACK)


def test_rule_untrusted_and_soft_passback_both_show():
    p = FakePass()
    d = decide(p=p, apb=_entered(p), trusted=False, s=Settings({"passback": "soft"}))
    assert_allowed(d, reasons.OK_TIME_UNTRUSTED)
    assert d.detail == reasons.OK_PASSBACK_SOFT


# --- order of the checks

def test_order_definitive_denials_come_before_retry_codes():
    # "come closer" would be a lie when no reading could let the person through
    lists = FakeLists(quarantined=[(3, 1, 1203)], revoked=[record.pass_id(b"revoked-id")])
    assert_denied(decide(temp=reasons.NO_READING, direction=OUT, lists=lists), reasons.QUARANTINED)
    assert_denied(decide(p=FakePass(cti=b"revoked-id"), temp=reasons.NO_READING, lists=lists),
                  reasons.REVOKED)
    assert_denied(decide(p=reasons.EXPIRED, temp=reasons.SENSOR_FAULT), reasons.EXPIRED)


def test_order_revoked_before_expired_before_direction():
    p = FakePass(exp=NOW - 1, nbf=NOW - DAY, dirs=IN)
    lists = FakeLists(revoked=[record.pass_id(p.cti)])
    assert_denied(decide(p=p, direction=OUT, lists=lists), reasons.REVOKED)
    assert_denied(decide(p=p, direction=OUT), reasons.EXPIRED)


def test_order_quarantine_before_mode():
    s = Settings({"mode": "sealed"})
    assert_denied(decide(direction=OUT, s=s, lists=FakeLists(quarantined=[(3, 0, 0)])),
                  reasons.QUARANTINED)


# --- actions

def test_denied_decisions_never_unlock_and_messages_fit_the_display():
    cases = [decide(p=reasons.MALFORMED), decide(temp=reasons.NO_READING),
             decide(temp=reading(3900)), decide(direction=OUT, s=Settings({"mode": "sealed"}))]
    for d in cases:
        assert not d.allow and d.unlock_s == 0
        assert not d.record_flags(OUT, True) & record.F_ALLOWED
    for code in range(0, 64):
        assert len(reasons.message(code)) <= 20


def test_unlock_seconds_from_settings():
    d = decide(s=Settings({"unlock_s": 9}))
    assert d.allow and d.unlock_s == 9


def test_record_flags_encode_the_decision():
    d = decide(temp=reading(3800), direction=OUT)
    f = d.record_flags(OUT, True)
    assert f & record.F_URGENT and f & record.F_ALARM and f & record.F_OUT
    assert f & record.F_TIME_TRUSTED and not f & record.F_ALLOWED and not f & record.F_IN
    f = decide().record_flags(IN, False)
    assert f & record.F_ALLOWED and f & record.F_IN and not f & (record.F_URGENT | record.F_OUT)


def test_a_denied_decision_cannot_carry_an_unlock_even_if_asked():
    d = policy.Decision(False, reasons.REVOKED, 0, 5, False, False, True)
    assert d.unlock_s == 0 and not d.flagged and d.beep == policy.BEEP_DENY
    d = policy.Decision(True, reasons.OK, 0, 5)
    assert d.unlock_s == 5 and d.beep == policy.BEEP_OK


def test_remote_lockdown_lets_only_exempt_roles_pass_both_ways():
    s = Settings()
    s.lockdown = True  # set by app/remote.py, never by a bundle
    for direction in (IN, OUT):
        assert_denied(decide(direction=direction, s=s), reasons.LOCKDOWN)
        d = decide(p=FakePass(role=roles.MEDICAL), direction=direction, s=s)
        assert d.allow and d.reason == reasons.OK_EXEMPT
    # a fever still comes first
    assert decide(temp=policy.Reading(3850, 3700, 2200), s=s).reason == reasons.FEVER
    s2 = Settings({"exempt_roles": [roles.MEDICAL]})
    s2.lockdown = True
    assert_denied(decide(p=FakePass(role=roles.SUPPLY), s=s2), reasons.LOCKDOWN)
    assert not Settings().lockdown
