"""Reason codes and roles: stable numbers, short messages (both runtimes)."""
from app import reasons, roles


def _codes():
    return [getattr(reasons, n) for n in dir(reasons) if n.isupper() and not n.startswith("_")]


def test_every_code_has_name_and_short_message():
    codes = _codes()
    assert len(codes) >= 20
    for c in codes:
        assert reasons.name(c) != "R" + str(c), c
        msg = reasons.message(c)
        assert 0 < len(msg) <= 20, (c, msg)


def test_codes_are_unique_bytes():
    codes = _codes()
    assert len(set(codes)) == len(codes)
    for c in codes:
        assert 0 <= c <= 255


def test_allow_split():
    assert reasons.allowed(reasons.OK) and reasons.allowed(reasons.OK_EXEMPT)
    for c in _codes():
        assert reasons.allowed(c) == (c < 10)
    assert not reasons.allowed(reasons.FEVER)


def test_unknown_code_is_named_not_raised():
    assert reasons.name(250) == "R250"
    assert reasons.message(250) == "Code 250"


def test_role_names():
    assert roles.name(roles.RESIDENT) == "resident"
    assert roles.name(roles.EMERGENCY) == "emergency"
    assert roles.VISITOR == 7 and roles.name(roles.VISITOR) == "visitor"  # append-only
    assert roles.NAMES.index("visitor") == 7
    assert roles.name(99) == "role99"
    assert roles.BOTH == roles.IN | roles.OUT
