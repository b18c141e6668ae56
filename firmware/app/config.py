"""Device configuration: identity, network, trust anchors (written by `gatepass provision`).

Kept apart from the policy settings (app/settings.py), which arrive in signed bundles:
the config says who the device is and whom it trusts; settings say how strict to be.
Stored as JSON at /config.json, replaced atomically (temp file + rename). `load()` raises
ConfigError naming the bad field, so main.py can show it and stay locked.
"""
import json

from app import roles
from app.fsutil import write_atomic

PATH = "/config.json"
_DIRECTIONS = {"in": roles.IN, "out": roles.OUT}
LANGS = ("zh", "en")


def _ca(v):
    """server.ca: the CA certificate as DER in hex text (what every MicroPython's
    tls.load_verify_locations takes); `gatepass provision` converts a PEM CA."""
    if v is None or v == "":
        return None
    if not isinstance(v, str) or "-----BEGIN" in v:
        raise ConfigError("server.ca: DER as hex text expected (gatepass provision --ca converts a PEM file)")
    import binascii

    try:
        der = binascii.unhexlify(v.strip())
    except ValueError:
        raise ConfigError("server.ca: not hex text")
    if len(der) < 64 or der[0] != 0x30:
        raise ConfigError("server.ca: not a DER certificate")
    return der


class ConfigError(ValueError):
    pass


def _unhex(field, s, n=None):
    import binascii

    if not isinstance(s, str):
        raise ConfigError("%s: not a hex string" % field)
    try:
        b = binascii.unhexlify(s)
    except ValueError:
        raise ConfigError("%s: not a hex string" % field)
    if n is not None and len(b) != n:
        raise ConfigError("%s: %d bytes, expected %d" % (field, len(b), n))
    return b


def _text(d, key, required=True, maxlen=64):
    v = d.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v or len(v) > maxlen:
        raise ConfigError("%s: missing or not a text of 1..%d characters" % (key, maxlen))
    return v


def _keys(d, key):
    out = {}
    lst = d.get(key, [])
    if not isinstance(lst, list):
        raise ConfigError("%s: not a list" % key)
    for i, k in enumerate(lst):
        field = "%s[%d]" % (key, i)
        if not isinstance(k, dict):
            raise ConfigError(field + ": not an object")
        kid = _unhex(field + ".kid", k.get("kid"))
        if not 1 <= len(kid) <= 16:
            raise ConfigError(field + ".kid: 1..16 bytes")
        pub = _unhex(field + ".pub", k.get("pub"), 65)
        if pub[0] != 4:
            raise ConfigError(field + ".pub: not an uncompressed P-256 point")
        out[kid] = pub
    return out


def _hex(b):
    import binascii

    return binascii.hexlify(b).decode()


def _seconds(d, key, default, lo, hi=86400):
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("ota.%s: whole seconds %d..%d" % (key, lo, hi))
    return v


class Config:
    """Validated device configuration. Keys stay as raw bytes: p256 tables are built by
    the caller once, only for the keys it really uses."""

    def __init__(self, d):
        if not isinstance(d, dict):
            raise ConfigError("config: not a JSON object")
        self.device_id = _text(d, "device_id", maxlen=32)
        self.secret = _unhex("secret", d.get("secret"))
        if len(self.secret) < 16:
            raise ConfigError("secret: at least 16 bytes")
        self.community = _text(d, "community", maxlen=32)
        self.gate = _text(d, "gate", required=False) or self.device_id
        direction = d.get("direction")
        if direction not in _DIRECTIONS:
            raise ConfigError("direction: 'in' or 'out'")
        self.direction = _DIRECTIONS[direction]
        self.board = _text(d, "board", required=False) or "esp32-devkitc"
        lang = d.get("lang", "zh")
        if lang not in LANGS:
            raise ConfigError("lang: one of %s" % ", ".join(LANGS))
        self.lang = lang  # what the display shows: "zh" (with the glyph file) or "en"
        wifi = d.get("wifi") or {}
        if not isinstance(wifi, dict):
            raise ConfigError("wifi: not an object")
        self.wifi_ssid = _text(wifi, "ssid", required=False, maxlen=32)
        self.wifi_password = wifi.get("password") or ""
        server = d.get("server") or {}
        if not isinstance(server, dict):
            raise ConfigError("server: not an object")
        self.server_url = _text(server, "url", required=False, maxlen=200)
        self.server_ca = _ca(server.get("ca"))  # DER bytes of the CA, required for https
        self.allow_http = server.get("allow_http") is True
        if self.server_url:
            if self.server_url.startswith("https://"):
                if not self.server_ca:
                    raise ConfigError("server.ca: required for https (certificates are verified)")
            elif self.server_url.startswith("http://"):
                if not self.allow_http:
                    raise ConfigError("server.url: plain http needs server.allow_http = true")
            else:
                raise ConfigError("server.url: must start with https:// or http://")
        self.issuer_keys = _keys(d, "issuer_keys")
        if not self.issuer_keys:
            raise ConfigError("issuer_keys: at least one trusted pass issuer key")
        self.bundle_keys = _keys(d, "bundle_keys")
        # firmware releases (app/release.py): a key of their own, never a pass or bundle key
        self.firmware_keys = _keys(d, "firmware_keys")
        for kid in self.firmware_keys:
            if kid in self.issuer_keys or kid in self.bundle_keys:
                raise ConfigError("firmware_keys: kid %s is also an issuer or bundle key"
                                  % _hex(kid))
        self.settings = d.get("settings") or {}  # local overrides until a bundle arrives
        if not isinstance(self.settings, dict):
            raise ConfigError("settings: not an object")
        # OTA timing (docs/ota.md): how long a new release must run healthy before it is
        # kept, and the first wait after a refused release (tests shorten both)
        ota = d.get("ota")
        if ota is None:
            ota = {}
        if not isinstance(ota, dict):
            raise ConfigError("ota: not an object")
        self.ota_confirm_s = _seconds(ota, "confirm_s", 300, 10)
        self.ota_retry_s = _seconds(ota, "retry_s", 60, 1)

    def summary(self):
        """Printable summary without secrets."""
        return {
            "device_id": self.device_id,
            "community": self.community,
            "gate": self.gate,
            "direction": "in" if self.direction == roles.IN else "out",
            "board": self.board,
            "lang": self.lang,
            "wifi": self.wifi_ssid,
            "server": self.server_url,
            "issuer_keys": len(self.issuer_keys),
            "bundle_keys": len(self.bundle_keys),
            "firmware_keys": len(self.firmware_keys),
        }


def parse(text):
    try:
        d = json.loads(text)
    except ValueError:
        raise ConfigError("config: not valid JSON")
    return Config(d)


def load(path=PATH):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("config: %s missing (run `gatepass provision`)" % path)
    return parse(text)


def save(d, path=PATH):
    """Validate and write atomically: a power cut leaves the old or the new file, never half."""
    Config(d)
    write_atomic(path, (json.dumps(d).encode(),))
