"""Device config parsing: clear errors naming the field (both runtimes)."""
import os

from app import config, roles

PUB = "04" + "11" * 64


def _good():
    return {
        "device_id": "gate-n1",
        "secret": "ab" * 32,
        "community": "sunrise",
        "direction": "in",
        "issuer_keys": [{"kid": "0102030405060708", "pub": PUB}],
        "server": {"url": "http://127.0.0.1:8000", "allow_http": True},
    }


def _error_of(d):
    try:
        config.Config(d)
    except config.ConfigError as e:
        return str(e)
    return None


def test_good_config():
    c = config.Config(_good())
    assert c.device_id == "gate-n1"
    assert c.direction == roles.IN
    assert c.secret == b"\xab" * 32
    assert list(c.issuer_keys.keys()) == [b"\x01\x02\x03\x04\x05\x06\x07\x08"]
    s = c.summary()
    assert "secret" not in s and s["issuer_keys"] == 1


def test_errors_name_the_field():
    cases = [
        ("device_id", None, "device_id"),
        ("secret", "zz", "secret"),
        ("secret", "ab", "secret"),
        ("direction", "sideways", "direction"),
        ("issuer_keys", [], "issuer_keys"),
        ("issuer_keys", [{"kid": "01", "pub": "04"}], "issuer_keys[0].pub"),
        ("issuer_keys", [{"kid": "01", "pub": "05" + "11" * 64}], "issuer_keys[0].pub"),
        ("server", {"url": "http://x"}, "allow_http"),
        ("server", {"url": "https://x"}, "server.ca"),
        ("server", {"url": "ftp://x"}, "server.url"),
    ]
    for key, value, expect in cases:
        d = _good()
        d[key] = value
        err = _error_of(d)
        assert err is not None and expect in err, (key, value, err)


def test_not_json_and_not_object():
    for text in ("{", "[1, 2]", ""):
        try:
            config.parse(text)
            assert False, text
        except config.ConfigError:
            pass


def test_save_is_atomic_and_validated():
    path = "cfgtest.json"
    d = _good()
    config.save(d, path)
    assert config.load(path).community == "sunrise"
    bad = _good()
    bad["direction"] = 3
    try:
        config.save(bad, path)
        assert False
    except config.ConfigError:
        pass
    assert config.load(path).community == "sunrise"  # old file intact
    os.remove(path)
    try:
        config.load(path)
        assert False
    except config.ConfigError as e:
        assert "provision" in str(e)


def test_firmware_keys_are_their_own_keys_and_ota_timings_are_checked():
    d = _good()
    d["bundle_keys"] = [{"kid": "b1", "pub": PUB}]
    d["firmware_keys"] = [{"kid": "f1", "pub": PUB}]
    c = config.Config(d)
    assert list(c.firmware_keys.keys()) == [b"\xf1"] and c.summary()["firmware_keys"] == 1
    assert c.ota_confirm_s == 300 and c.ota_retry_s == 60  # defaults
    for shared in ("0102030405060708", "b1"):  # an issuer's kid, a bundle key's kid
        d["firmware_keys"] = [{"kid": shared, "pub": PUB}]
        err = _error_of(d)
        assert err is not None and "firmware_keys" in err and "also an issuer or bundle key" in err, err
    d["firmware_keys"] = [{"kid": "f1", "pub": "04"}]
    assert "firmware_keys[0].pub" in _error_of(d)
    d["firmware_keys"] = []
    assert config.Config(d).firmware_keys == {}
    d["ota"] = {"confirm_s": 10, "retry_s": 3}
    c = config.Config(d)
    assert c.ota_confirm_s == 10 and c.ota_retry_s == 3
    for bad in ({"confirm_s": 5}, {"confirm_s": True}, {"retry_s": 0}, {"retry_s": "3"}, []):
        d["ota"] = bad
        err = _error_of(d)
        assert err is not None and err.startswith("ota"), (bad, err)
