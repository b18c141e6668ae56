"""`gatepass release publish DIR --server URL` and `gatepass release list` against a live
server over real HTTP (docs/ota.md): a built release goes up file by file and is
published; what the server or the local copy refuses (damaged file, another key, an old
version, a viewer's account, a wrong password, no server) is one line, and nothing half
published is ever offered."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gatepass.cli import cli
from gatepass.issuing import keys as ikeys
from gatepass.issuing import release as irel
from gatepass.server.testing import LiveServer, free_port

FILES = {"app/gate.mpy": b"M\x06" + bytes(range(256)) * 20, "app/ui.mpy": b"M\x06ui" * 500,
         "drivers/relay.mpy": b"M\x06relay" * 50}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("release-server")
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    srv = LiveServer(db, home, seed={"community": "maple", "devices": [["g1", "North gate", "in"]],
                                     "more": [{"community": "oak"}],
                                     "staff": [["tech", "maple", "admin"], ["watcher", "maple", "viewer"],
                                               ["oaktech", "oak", "admin"]]}).start()
    assert srv.staff, srv.output()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fwkey(server, tmp_path_factory):
    """A firmware key trusted in maple through `gatepass server firmware-key`."""
    d = tmp_path_factory.mktemp("fwkey")
    key = ikeys.generate()
    pub = d / "fw.pub.json"
    pub.write_text(json.dumps({"kid": key.kid.hex(), "pub": key.pub65.hex()}))
    r = server_cmd(server, "firmware-key", str(pub), "--community", "maple")
    assert r.returncode == 0 and "trusted in maple" in r.stdout, r.stdout + r.stderr
    return key


def server_cmd(server, *args):
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "-c", "from gatepass.cli import main; main()", "server", "--db",
                           server.db, "--home", str(server.home), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def built(tmp_path, key, version, files=FILES):
    """What `gatepass release build` writes: manifest.cose and the files beside it."""
    d = tmp_path / ("rel-%d" % version)
    for p, b in files.items():
        (d / p).parent.mkdir(parents=True, exist_ok=True)
        (d / p).write_bytes(b)
    (d / "manifest.cose").write_bytes(irel.build(key, files, version, 6))
    return d


def run(server, *args, user="tech", password=None):
    env = {"GATEPASS_STAFF_PASSWORD": server.seeded["staff"][user] if password is None else password,
           "DATABASE_URL": None, "GATEPASS_HOME": None}
    return CliRunner().invoke(cli, ["release", *args, "--server", server.url, "--community", "maple",
                                    "--staff-user", user], env=env)


def published(server):
    with sqlite3.connect(server.db[len("sqlite:///"):]) as conn:
        return conn.execute("SELECT version, published_at IS NOT NULL FROM gatepass_release "
                            "ORDER BY version").fetchall()


def one_line_error(r, *words):
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output
    lines = [x for x in r.output.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1, r.output
    for w in words:
        assert w in lines[0], r.output
    return lines[0]


def test_publish_then_list(server, fwkey, tmp_path):
    d = built(tmp_path, fwkey, 3)
    r = run(server, "publish", str(d), "--note", "fixes the display", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output.strip().splitlines()[-1])
    assert rec["version"] == 3 and rec["files"] == 3 and rec["bytes"] == sum(len(b) for b in FILES.values())
    assert rec["published_by"] == "tech" and rec["note"] == "fixes the display"
    assert (3, 1) in published(server)
    r = run(server, "list", user="watcher")  # a viewer reads
    assert r.exit_code == 0 and "3" in r.output and "mpy" in r.output and "tech" in r.output, r.output
    with sqlite3.connect(server.db[len("sqlite:///"):]) as conn:
        acts = conn.execute("SELECT actor, action, target FROM gatepass_auditentry WHERE action LIKE 'release%' "
                            "OR action LIKE 'firmwarekey%'").fetchall()
    assert ("tech", "release_publish", "v3") in acts and any(a[1] == "firmwarekey_add" for a in acts)


def test_refusals_are_one_line_and_publish_nothing(server, fwkey, tmp_path):
    before = published(server)
    # a damaged local copy: named before anything is sent
    d = built(tmp_path, fwkey, 10)
    (d / "app/ui.mpy").write_bytes(b"M\x06ui" * 499 + b"XXX")
    one_line_error(run(server, "publish", str(d)), "app/ui.mpy", "damaged")
    one_line_error(run(server, "publish", str(tmp_path / "nothing")), "manifest.cose", "release build")
    # another key
    d = built(tmp_path / "other", ikeys.generate(), 11)
    one_line_error(run(server, "publish", str(d)), "422", "unknown firmware key")
    # a viewer may not publish, a wrong password is refused, an account of another community sees nothing
    d = built(tmp_path / "ok", fwkey, 12)
    one_line_error(run(server, "publish", str(d), user="watcher"), "403", "admin")
    one_line_error(run(server, "publish", str(d), password="wrong-password"), "staff login")
    one_line_error(run(server, "publish", str(d), user="oaktech"), "404")
    # a frozen-tier release
    one_line_error(run(server, "publish", str(d), "--tier", "frozen"), "422", "USB")
    assert [v for v in published(server) if v[1]] == [v for v in before if v[1]]
    # the same release goes up fine afterwards (an earlier draft is replaced)
    assert run(server, "publish", str(d)).exit_code == 0
    # and an older one is refused
    one_line_error(run(server, "publish", str(built(tmp_path / "old", fwkey, 5))), "409", "not above")


def test_no_server_is_one_line(tmp_path, fwkey):
    d = built(tmp_path, fwkey, 20)
    r = CliRunner().invoke(cli, ["release", "publish", str(d), "--server", "http://127.0.0.1:%d" % free_port(),
                                 "--community", "maple", "--staff-user", "tech"],
                           env={"GATEPASS_STAFF_PASSWORD": "x"})
    one_line_error(r, "cannot reach")
