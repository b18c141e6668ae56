"""Policy invariants over drawn situations (hypothesis), settings validation, the real
Pass class, and CPython/MicroPython agreement on the same drawn decisions."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from app import policy, reasons, record, roles
from app import settings as st_mod
from app.settings import Settings
from core_doubles import DAY, NOW, decide_plain, from_raw

ALL_ROLES = list(range(8))
role_sets = st.lists(st.sampled_from(ALL_ROLES), unique=True)

settings_dicts = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["prevention", "control", "sealed", 0, 1, 2]),
        "threshold": st.floats(35.0, 40.0).map(lambda x: round(x, 2)),
        "exempt_roles": role_sets,
        "quarantine_exempt_roles": role_sets,
        "quarantine_urgent": st.booleans(),
        "admitted_roles": role_sets,
        "passback": st.sampled_from(["off", "soft", "hard"]),
        "passback_window_s": st.integers(0, 7 * DAY),
        "passback_exempt_roles": role_sets,
        "untrusted_time": st.sampled_from(["deny", "allow"]),
        "unlock_s": st.integers(1, 30),
        "visitor_modes": st.lists(st.sampled_from(["prevention", "control"]), unique=True),
    },
)

units = st.tuples(st.integers(0, 6), st.integers(0, 3), st.integers(0, 3))
ctis = st.sampled_from([b"pass-0001", b"pass-0002", b"pass-0003xyz", b"\x00" * 8])
passes = st.one_of(
    st.sampled_from([reasons.MALFORMED, reasons.UNKNOWN_KID, reasons.BAD_SIGNATURE,
                     reasons.WRONG_COMMUNITY, reasons.NOT_YET_VALID, reasons.EXPIRED]),
    st.tuples(
        st.integers(0, 9),  # role (7 visitor; 8, 9: unknown)
        ctis,
        st.integers(NOW - 40 * DAY, NOW + DAY),  # nbf
        st.integers(NOW - DAY, NOW + 40 * DAY),  # exp
        units,
        st.integers(0, 3),  # dirs
    ),
)
temps = st.one_of(
    # MLX90614 raw words: object 30..45 C, ambient 15..30 C (0.02 K units)
    st.tuples(st.integers(15158, 15908), st.integers(14408, 15158)),
    st.sampled_from([reasons.NO_READING, reasons.UNSTABLE, reasons.SENSOR_FAULT, reasons.IMPLAUSIBLE]),
    st.none(),
)
situations = st.tuples(
    passes,
    temps,
    st.sampled_from([roles.IN, roles.OUT]),
    st.one_of(st.none(), st.integers(NOW - 2 * DAY, NOW + 2 * DAY)),
    st.booleans(),
    settings_dicts,
    st.lists(ctis.map(record.pass_id), max_size=2),
    st.lists(units, max_size=3),
    st.one_of(st.none(), st.tuples(st.sampled_from([roles.IN, roles.OUT]), st.integers(NOW - 3 * DAY, NOW))),
    # home isolation: (pass id, end) pairs, ends around now
    st.lists(st.tuples(ctis.map(record.pass_id), st.integers(NOW - 2 * DAY, NOW + 3 * DAY)), max_size=2,
             unique_by=lambda e: e[0]),
    st.integers(0, 3),  # the pass's visitor-table state: NONE, ENTERED, EXITED, FULL
)


def run(case):
    return decide_plain(*case)


def is_quarantined(unit, quarantined):
    b, e, r = unit
    q = set(quarantined)
    return b != 0 and ((b, 0, 0) in q or (b, e, 0) in q or (b, e, r) in q)


@given(situations)
def test_invariant_never_allow_at_or_above_threshold(case):
    p, temp, *_rest = case
    s = Settings(case[5])
    allow, reason, _d, _u, alarm, urgent, *_ = run(case)
    r = from_raw(temp[0], temp[1], s) if isinstance(temp, tuple) else None
    if r is not None and not isinstance(r, int) and record.clamp_cc(r.body_cc) >= s.threshold_cc:
        assert not allow
        assert reason == reasons.FEVER and alarm and urgent
    if r is not None and not isinstance(r, int) and r.body_cc < s.threshold_cc:
        assert reason != reasons.FEVER


@given(situations)
def test_invariant_never_allow_a_quarantined_unit_out_unless_exempt(case):
    p, _t, direction, *_r = case
    s = Settings(case[5])
    allow = run(case)[0]
    if allow and direction == roles.OUT and not isinstance(p, int):
        role, unit = p[0], p[4]
        if is_quarantined(unit, case[7]):
            assert s.quarantine_exempt & (1 << role)


@given(situations)
def test_invariant_denied_never_unlocks_and_allowed_always_does(case):
    allow, reason, detail, unlock, alarm, urgent, flagged, retry, beep = run(case)
    assert reasons.allowed(reason) == allow
    if allow:
        assert unlock == Settings(case[5]).unlock_s > 0 and not alarm and not retry
        assert beep in (policy.BEEP_OK, policy.BEEP_WARN)
    else:
        assert unlock == 0 and not flagged
        assert beep in (policy.BEEP_DENY, policy.BEEP_RETRY, policy.BEEP_ALARM)
    assert len(reasons.message(reason)) <= 20
    assert reasons.name(reason) != "R%d" % reason  # every code the policy emits is named


@given(situations)
def test_invariant_untrusted_time_is_never_silent(case):
    allow, reason, detail, *_ = run(case)
    trusted = case[4]
    if allow and not trusted:
        assert reason == reasons.OK_TIME_UNTRUSTED
    if not trusted and Settings(case[5]).untrusted_time == st_mod.UNTRUSTED_DENY:
        assert not allow


@given(situations)
def test_invariant_invalid_pass_never_allowed(case):
    p, temp, direction, now, trusted = case[:5]
    allow = run(case)[0]
    if isinstance(p, int):
        assert not allow
    else:
        role, cti, nbf, exp, unit, dirs = p
        if allow:
            assert direction & dirs
            assert record.pass_id(cti) not in case[6]
            if now is not None:
                assert now < exp
                if trusted:
                    assert now >= nbf
            assert Settings(case[5]).admitted & (1 << role)


@given(situations)
def test_invariant_isolated_never_out_before_the_end_even_on_a_lower_bound_clock(case):
    p, _t, direction, now = case[:4]
    allow, reason = run(case)[:2]
    if isinstance(p, int):
        return
    ends = dict(case[9])
    end = ends.get(record.pass_id(p[1]))
    if direction == roles.OUT and end is not None and (now is None or now < end):
        assert not allow
        assert reason in (reasons.ISOLATED, reasons.FEVER, reasons.ROLE_NOT_ALLOWED, reasons.REVOKED,
                          reasons.EXPIRED, reasons.NOT_YET_VALID, reasons.TIME_UNTRUSTED,
                          reasons.DIRECTION_NOT_ALLOWED)
    if allow and direction == roles.OUT and end is not None:
        assert now is not None and now >= end  # lifted by the gate itself: no new list needed


@given(situations)
def test_invariant_visitor_one_entry_one_exit_never_in_sealed(case):
    p, _t, direction, now, _tr, sdict = case[:6]
    allow, reason = run(case)[:2]
    if isinstance(p, int) or p[0] != roles.VISITOR:
        if not isinstance(p, int):
            assert reason not in (reasons.VISITOR_USED, reasons.VISITOR_NOT_ADMITTED, reasons.VISITOR_FULL)
        return
    s = Settings(sdict)
    last, visit = case[8], case[10]
    if allow and direction == roles.IN:
        assert s.mode != st_mod.MODE_SEALED and s.visitor_modes & (1 << s.mode)
        assert last is None and visit == 0  # nothing known of this pass at any gate
    if allow and direction == roles.OUT:
        assert visit != 2 and (last is None or last[0] != roles.OUT)


@settings(max_examples=12)
@given(st.lists(situations, min_size=40, max_size=40))
def test_micropython_decides_exactly_like_cpython(mpy, cases):
    got = mpy.map("core_doubles", "decide_plain", cases)
    for case, res in zip(cases, got):
        assert res == ("ok", run(case)), case


# ------------------------------------------------------------ settings

def test_settings_defaults_are_the_documented_ones():
    s = Settings()
    assert s.threshold == 37.3 and s.threshold_cc == 3730
    assert s.mode == st_mod.MODE_PREVENTION
    assert s.passback == st_mod.PASSBACK_HARD and s.passback_window_s == DAY
    assert s.untrusted_time == st_mod.UNTRUSTED_ALLOW
    assert s.unlock_s == 5 and s.log_full == st_mod.LOG_DROP_OLDEST
    assert s.exempt == sum(1 << r for r in range(1, 7))
    assert s.quarantine_exempt == (1 << roles.MEDICAL) | (1 << roles.EPIDEMIC) | (1 << roles.EMERGENCY)


@pytest.mark.parametrize(
    "bad",
    [
        {"threshold": 34.9}, {"threshold": 40.1}, {"threshold": "37.3"}, {"threshold": True},
        {"mode": "lockdown"}, {"mode": 3}, {"mode": True},
        {"exempt_roles": [8]}, {"exempt_roles": 1}, {"exempt_roles": [True]},
        {"passback": "medium"}, {"passback_window_s": -1}, {"passback_window_s": 1.5},
        {"unlock_s": 0}, {"unlock_s": 31}, {"untrusted_time": "maybe"},
        {"comp_k_pm": 600}, {"comp_k_pm": 0.1}, {"comp_k": 0.1},
        {"skin_min_cc": 3900, "skin_max_cc": 3800}, {"log_full": "explode"},
        {"quarantine_urgent": 1}, {"thresold": 37.0},
    ],
)
def test_settings_reject_bad_values_naming_the_key(bad):
    with pytest.raises(ValueError) as ei:
        Settings(bad)
    key = next(iter(bad))
    assert key in str(ei.value)


@given(settings_dicts)
def test_settings_canonical_roundtrip(d):
    s = Settings(d)
    assert Settings(s.to_dict()) == s
    assert st_mod.validate(s.to_dict()) == s.to_dict()
    u = s.updated({"unlock_s": 7})
    assert u.unlock_s == 7 and s.unlock_s == Settings(d).unlock_s


@settings(max_examples=20)
@given(st.lists(settings_dicts, min_size=10, max_size=10))
def test_settings_validate_agrees_under_micropython(mpy, ds):
    ds = ds + [{"threshold": 41.0}, {"mode": "x"}, {"nope": 1}]
    got = mpy.map("app.settings", "validate", [(d,) for d in ds])
    for d, res in zip(ds, got):
        try:
            want = ("ok", st_mod.validate(d))
        except ValueError:
            assert res[0] == "err" and res[1] == "ValueError", (d, res)
        else:
            assert res == want, d


# ------------------------------------------------------------ the real Pass class

def test_policy_accepts_the_real_pass_class():
    from app import passes

    p = passes.Pass(b"k1", "sunny-garden", b"0123456789", NOW - DAY, NOW + DAY, NOW - DAY,
                    roles.RESIDENT, (3, 1, 1203), roles.BOTH, "")
    d = policy.decide(p, policy.Reading(3650), roles.OUT, NOW, True, Settings())
    assert d.allow and d.reason == reasons.OK
    d = policy.decide(p, policy.Reading(3650), roles.OUT, NOW, True, Settings({"mode": "control"}))
    assert not d.allow and d.reason == reasons.MODE_CONTROL


@pytest.mark.parametrize("doc_path", ["docs/reason-codes.md"])
def test_reason_codes_doc_lists_every_code_with_its_name_and_message(doc_path):
    from pathlib import Path

    from app import reasons as r

    doc = (Path(__file__).resolve().parents[2] / doc_path).read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            rows[int(cells[0])] = (cells[1], cells[2])
    codes = {getattr(r, n) for n in dir(r) if n.isupper() and not n.startswith("_")}
    assert set(rows) == codes
    for c in codes:
        assert rows[c] == (r.name(c), r.message(c)), c
