"""Device configuration written by `gatepass provision`: build, validate, write, check.

The config format and its validation are the firmware's own (firmware/app/config.py),
imported here so a bad config is refused on the laptop with the same field-named message
the gate would show, BEFORE anything is written. On the board the new file goes to
/config.json.tmp, is loaded by the board's own app.config (when deployed), and only then
renamed over /config.json: a refused or interrupted provision leaves the old config.
"""
from __future__ import annotations

import ast
import json
import secrets
from pathlib import Path

from ..mp.fw import fw_import as fw

CONFIG_PATH = "/config.json"
SECRET_BYTES = 32


class ProvisionError(ValueError):
    """Bad input or a refused config (the message names the field)."""


class RegistrationUnavailable(ProvisionError):
    pass


def new_secret() -> str:
    """A fresh per-device HMAC secret, hex (32 random bytes)."""
    return secrets.token_bytes(SECRET_BYTES).hex()


def load_key(spec: str) -> dict:
    """A trusted key {"kid", "pub"} from a file (`gatepass keys new` writes <kid>.pub.json)
    or inline JSON."""
    text = spec
    p = Path(spec)
    if not spec.lstrip().startswith("{"):
        try:
            text = p.read_text()
        except OSError as e:
            raise ProvisionError("key %s: cannot read (%s)" % (spec, e.strerror or e)) from None
    try:
        d = json.loads(text)
    except ValueError:
        raise ProvisionError("key %s: not JSON" % spec) from None
    if not isinstance(d, dict) or "kid" not in d or "pub" not in d:
        raise ProvisionError('key %s: expected {"kid": hex, "pub": hex}' % spec)
    return {"kid": d["kid"], "pub": d["pub"]}


def load_fragment(path: str) -> dict:
    """A config fragment printed by `gatepass server device ...` (id, secret, keys)."""
    try:
        d = json.loads(Path(path).read_text())
    except OSError as e:
        raise ProvisionError("fragment %s: cannot read (%s)" % (path, e.strerror or e)) from None
    except ValueError:
        raise ProvisionError("fragment %s: not JSON" % path) from None
    if not isinstance(d, dict):
        raise ProvisionError("fragment %s: not a JSON object" % path)
    return d


def ca_to_der_hex(ca) -> str:
    """The server's CA as a technician has it (a PEM file's text, or DER bytes) -> the DER
    hex text the device stores (config `server.ca`): every MicroPython's
    tls.load_verify_locations takes DER, only 1.29+ takes PEM. Exactly one certificate."""
    from cryptography import x509

    try:
        if isinstance(ca, str) or (isinstance(ca, (bytes, bytearray)) and b"-----BEGIN" in ca):
            text = ca.encode() if isinstance(ca, str) else bytes(ca)
            certs = x509.load_pem_x509_certificates(text)
        else:
            certs = [x509.load_der_x509_certificate(bytes(ca))]
    except ValueError:
        raise ProvisionError("CA: not a PEM or DER certificate") from None
    if len(certs) != 1:
        raise ProvisionError("CA: %d certificates in the file; give the one CA that signed the "
                             "server's certificate" % len(certs))
    from cryptography.hazmat.primitives.serialization import Encoding

    return certs[0].public_bytes(Encoding.DER).hex()


def build_config(base: dict | None = None, *, device_id=None, secret=None, community=None,
                 gate=None, direction=None, board=None, wifi_ssid=None, wifi_password=None,
                 server_url=None, ca_pem=None, issuer_keys=(), bundle_keys=(), firmware_keys=(),
                 settings=None, lang=None) -> dict:
    """The config dict: `base` (a server fragment or the board's current config) overlaid
    with every argument that is not None / empty. Keys given here are added to base's."""
    cfg = json.loads(json.dumps(base or {}))
    for k, v in (("device_id", device_id), ("secret", secret), ("community", community),
                 ("gate", gate), ("direction", direction), ("board", board), ("lang", lang)):
        if v is not None:
            cfg[k] = v
    if wifi_ssid is not None:
        cfg["wifi"] = {"ssid": wifi_ssid, "password": wifi_password or ""}
    if server_url is not None:
        srv = dict(cfg.get("server") or {})
        srv["url"] = server_url
        srv["allow_http"] = server_url.startswith("http://")
        if ca_pem is not None:
            srv["ca"] = ca_to_der_hex(ca_pem)
        cfg["server"] = srv
    for field, keys in (("issuer_keys", issuer_keys), ("bundle_keys", bundle_keys),
                        ("firmware_keys", firmware_keys)):
        if keys:
            have = list(cfg.get(field) or [])
            kids = {k.get("kid") for k in have if isinstance(k, dict)}
            have += [k for k in keys if k["kid"] not in kids]
            cfg[field] = have
    if settings is not None:
        cfg["settings"] = settings
    if "secret" not in cfg:
        cfg["secret"] = new_secret()
    return cfg


def validate(cfg: dict):
    """The firmware's own validation (app/config.py); ProvisionError names the field."""
    config = fw("app.config")
    try:
        return config.Config(cfg)
    except config.ConfigError as e:
        raise ProvisionError("config refused: %s" % e) from None


def encode(cfg: dict) -> bytes:
    return json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()


def summary(cfg: dict) -> dict:
    """What the technician may see (no secret, no Wi-Fi password)."""
    return validate(cfg).summary()


_DEVICE_CHECK = """\
try:
    from app import config as _gp_c
except ImportError:
    print(repr(None))
else:
    try:
        print(repr(_gp_c.load(%r).summary()))
    except ValueError as e:
        print(repr(str(e)))
"""


def write_config(dev, cfg: dict, path: str = CONFIG_PATH) -> dict:
    """Validate, write to path.tmp, let the board's firmware load it, rename, read back.

    Returns {"device_check": summary dict or None (firmware not deployed)}. On any refusal
    the temp file is removed and the old config is untouched."""
    validate(cfg)
    data = encode(cfg)
    tmp = path + ".tmp"
    dev.write(tmp, data, atomic=False)
    check = ast.literal_eval(dev.exec(_DEVICE_CHECK % tmp).strip())
    if isinstance(check, str):
        dev.remove(tmp)
        raise ProvisionError("the board's firmware refused the config: %s (old config kept)" % check)
    dev.exec("import os\nos.rename(%r, %r)" % (tmp, path))
    back = dev.read(path)
    if back != data:
        raise ProvisionError("read-back of %s differs from what was written (%d vs %d bytes): "
                             "flash or USB trouble, provision again" % (path, len(back), len(data)))
    return {"device_check": check}


def read_config(dev, path: str = CONFIG_PATH) -> dict | None:
    """The board's current config as a dict, None when it has none (or it is not JSON)."""
    if dev.size(path) is None:
        return None
    try:
        d = json.loads(dev.read(path))
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


STAFF_API_DEVICES = "/api/staff/v1/devices"
HTTP_TIMEOUT_S = 30


def uses_database(db: str | None = None, home: str | None = None, staff_user: str | None = None) -> bool:
    """True when --register goes through the server's database (given, or this is the server
    machine and no staff user was named); False: through the staff API over HTTP."""
    import os

    if db or home:
        return True
    return not staff_user and bool(os.environ.get("DATABASE_URL") or os.environ.get("GATEPASS_HOME"))


def unavailable() -> RegistrationUnavailable:
    """Why --register cannot go ahead without a staff account or the server's database."""
    return RegistrationUnavailable(
        "--register needs a staff account of the server (--staff-user NAME or GATEPASS_STAFF_USER; "
        "password from GATEPASS_STAFF_PASSWORD or prompted) with --server URL, or the server's "
        "database (--server-db URL_OR_PATH / --server-home DIR, or run on the server machine with "
        "GATEPASS_HOME set). Alternatively register on the server with `gatepass server device ID "
        "--community C --gate G --direction D` and provision with --fragment of its output.")


def register_device(device_id: str, community: str, gate: str, direction: str,
                    server_url: str | None = None, db: str | None = None,
                    home: str | None = None, staff_user: str | None = None,
                    staff_password: str | None = None, ca_file: str | None = None) -> dict:
    """Register the device with the community server; returns the server's config fragment:
    the device's secret (made by the server, shown only in this answer) and the trusted
    issuer and bundle keys of the community.

    With a database (db/home, or GATEPASS_HOME/DATABASE_URL on the server machine) this
    calls gatepass.server.cli.add_device directly; otherwise it POSTs to the server's staff
    API (docs/server.md) as staff_user over server_url, checking https against ca_file."""
    if not uses_database(db, home, staff_user):
        if not staff_user or not server_url:
            raise unavailable()
        return register_over_http(server_url, staff_user, staff_password or "", ca_file,
                                  {"device_id": device_id, "community": community, "gate": gate,
                                   "direction": direction})
    from ..server import cli as server_cli
    from ..server import setup

    setup(db=db, home=home)
    server_cli.migrate()
    from ..server import audit

    try:
        frag = server_cli.add_device(device_id, community, gate, direction, server_url=server_url)
    except Exception as e:  # Django's ValidationError / IntegrityError / DoesNotExist
        raise ProvisionError("server refused the registration of %s: %s" % (device_id, e)) from None
    audit.record(None, "device_add", community, device_id, "provision --register (database): %s %s"
                 % (gate, direction))
    return frag


def register_over_http(server_url: str, user: str, password: str, ca_file: str | None, body: dict) -> dict:
    """POST body to the staff API; the fragment, or ProvisionError with the server's reason."""
    import base64
    import ssl
    import urllib.error
    import urllib.request

    url = server_url.rstrip("/") + STAFF_API_DEVICES
    if not url.startswith(("https://", "http://")):
        raise ProvisionError("--server %s: expected an https:// (or http://) URL" % server_url)
    cred = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json", "Authorization": "Basic " + cred})
    ctx = ssl.create_default_context(cafile=ca_file) if url.startswith("https://") else None
    did = body.get("device_id")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S, context=ctx) as resp:
            data = resp.read()
    except urllib.error.HTTPError as e:
        detail = _detail(e)
        if e.code == 401:
            raise ProvisionError("server refused the staff login of %r (wrong password, or not an "
                                 "active staff account): %s" % (user, detail)) from None
        if e.code == 403:
            raise ProvisionError("server refused the registration of %s: %s (the account needs the "
                                 "admin role in the community)" % (did, detail)) from None
        if e.code == 429:
            raise ProvisionError("server refused the staff login of %r: %s" % (user, detail)) from None
        if e.code == 404:
            raise ProvisionError("server refused the registration of %s: %s (is %s the community "
                                 "server, with the staff API?)" % (did, detail, server_url)) from None
        if e.code == 409:
            raise ProvisionError("server refused the registration of %s: %s" % (did, detail)) from None
        if e.code >= 500:
            raise RegistrationUnavailable("server error %d registering %s: %s (try again later, or "
                                          "register on the server and use --fragment)"
                                          % (e.code, did, detail)) from None
        raise ProvisionError("server refused the registration of %s (%d): %s" % (did, e.code, detail)) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise RegistrationUnavailable("cannot verify the certificate of %s: %s (give the server's CA "
                                          "with --ca)" % (server_url, reason.verify_message)) from None
        raise RegistrationUnavailable("cannot reach the server at %s: %s" % (server_url, reason)) from None
    except (OSError, ValueError) as e:  # timeouts, resets, malformed URLs
        raise RegistrationUnavailable("cannot reach the server at %s: %s" % (server_url, e)) from None
    try:
        frag = json.loads(data)
    except ValueError:
        frag = None
    if not isinstance(frag, dict) or frag.get("device_id") != did or not _is_secret(frag.get("secret")):
        raise ProvisionError("server answered the registration of %s with an unexpected body: %r"
                             % (did, data[:200])) from None
    return frag


def _is_secret(v) -> bool:
    try:
        return isinstance(v, str) and len(bytes.fromhex(v)) >= 16
    except ValueError:
        return False


def _detail(e) -> str:
    """The server's `detail` text of an HTTP error answer (or its first bytes)."""
    try:
        raw = e.read()
    except OSError:
        raw = b""
    try:
        d = json.loads(raw)
        if isinstance(d, dict) and d.get("detail"):
            return str(d["detail"])
    except ValueError:
        pass
    return raw[:200].decode("utf-8", "replace") or (e.reason or "HTTP %d" % e.code)


LOG_DIR = "/data/log"  # firmware/main.py: DATA + "/log"


def reuse_note(dev, device_id: str) -> str | None:
    """What happens when a fragment (an id the server already knows) goes onto this board:
    None when the board already runs as that id with its event log (nothing changes);
    otherwise the board's log is new to the server under that id (docs/uplink.md 3a)."""
    current = read_config(dev)
    if current and current.get("device_id") == device_id and dev.size(LOG_DIR + "/epoch") is not None:
        return None
    return ("device id %s is already registered on the server: this board's event log is new there (a new log "
            "epoch). The server keeps the events it holds for %s, stores this board's from seq 1 in a new seq "
            "space, and shows staff one 'log restarted' event; nothing is lost. If another board still runs as "
            "%s, retire it: two boards under one id keep restarting each other's log." % (device_id, device_id,
                                                                                        device_id))


def run(dev, base: dict | None = None, *, secret: str | None = None, keep_secret: bool = False,
        board: str | None = None, register: dict | None = None, say=lambda level, text: None,
        **fields) -> tuple[dict, dict]:
    """Provision the board on `dev`: `base` (a fragment) overlaid with `fields`
    (build_config's keyword arguments), the secret kept from the board's config with
    keep_secret, the board profile name read from /board.json when not given; with
    `register` (register_device's server arguments) the device is registered first and the
    community's trusted keys come back from the server. Validated by the firmware's own
    validator on this laptop and on the board, written atomically, read back.

    Returns (config, write_config()'s result). ProvisionError on a refusal: the old
    config stays. When the server registered the device but the board was not written,
    the config is saved to <device id>.provision.json (0600) for a re-run with --fragment."""
    base = base or {}
    if register is not None and (secret or keep_secret):
        raise ProvisionError("--register: the server makes the device's secret (--secret and --keep-secret "
                             "cannot go with it; a registered device is provisioned again with --fragment)")
    if keep_secret:
        current = read_config(dev)
        if not current or not current.get("secret"):
            raise ProvisionError("--keep-secret: the board has no config with a secret")
        secret = current["secret"]
    if board is None and "board" not in base:
        from .deploy import BOARD_PATH

        if dev.size(BOARD_PATH):
            try:
                board = json.loads(dev.read(BOARD_PATH)).get("name")
            except ValueError:
                board = None
    cfg = build_config(base, secret=secret, board=board, **fields)
    if register is not None:
        frag = register_device(cfg.get("device_id"), cfg.get("community"), cfg.get("gate") or cfg.get("device_id"),
                               cfg.get("direction"), **register)
        # the secret the server made (shown once) is the one the board gets
        cfg = build_config(cfg, secret=frag["secret"], issuer_keys=frag.get("issuer_keys") or (),
                           bundle_keys=frag.get("bundle_keys") or (), firmware_keys=frag.get("firmware_keys") or ())
        say("info", "registered %s on the server" % cfg["device_id"])
    else:
        validate(cfg)
        if base.get("device_id") and base.get("secret"):
            note = reuse_note(dev, cfg["device_id"])
            if note:
                say("note", note)
    try:
        res = write_config(dev, cfg)
    except Exception:
        if register is not None:
            # the server made and knows the secret now: keep it for a re-run with --fragment
            saved = Path("%s.provision.json" % cfg["device_id"])
            saved.write_text(json.dumps(cfg))
            saved.chmod(0o600)
            say("error", "the device is registered but the board was not written: run "
                         "gatepass provision --port %s --fragment %s" % (getattr(dev, "port", "PORT"), saved))
        raise
    return cfg, res
