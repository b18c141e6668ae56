"""`gatepass pass batch --server URL` (issue 14.1) against a live server over real HTTP:
every pass issued is registered with its holder and unit; the staff login and role are
checked before anything is issued; a server that refuses or cannot be reached is one
line, and a registration that stops part-way names the roster lines in and out;
`gatepass pass register` finishes it (safe to repeat)."""
from __future__ import annotations

import csv
import sqlite3

import pytest
from click.testing import CliRunner

from gatepass.cli import cli
from gatepass.issuing import register as reglib
from gatepass.server.testing import LiveServer, free_port

ROSTER = ("姓名,电话,房号,身份,备注\n"
          "李伟,13800000001,3栋1单元1203室,居民,\n"
          "王芳,,3-1-1204,居民,独居\n"
          ",,,物业,\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("pass-server")
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    srv = LiveServer(db, home, seed={"community": "maple", "more": [{"community": "oak"}],
                                     "staff": [["guard", "maple", "operator"], ["watcher", "maple", "viewer"]]}).start()
    assert srv.staff, srv.output()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    r = CliRunner().invoke(cli, ["keys", "new", "--out", str(d)])
    assert r.exit_code == 0, r.output
    return next(d.glob("*.key.pem"))


def query(server, sql, *args):
    with sqlite3.connect(server.db[len("sqlite:///"):]) as conn:
        return conn.execute(sql, args).fetchall()


def batch(server, key, tmp_path, user, password, *extra, roster=ROSTER, community="maple"):
    path = tmp_path / "名单.csv"
    path.write_bytes(roster.encode("gbk"))
    env = {"GATEPASS_STAFF_PASSWORD": password, "DATABASE_URL": None, "GATEPASS_HOME": None}
    r = CliRunner().invoke(cli, ["pass", "batch", str(path), "--key", str(key), "--community", community,
                                 "--out", str(tmp_path / "out"), "--server", server.url, "--staff-user", user,
                                 *extra], env=env)
    return r, path


def manifest(tmp_path):
    with open(tmp_path / "out" / "passes.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_batch_registers_every_pass_with_its_holder_and_unit(server, key, tmp_path):
    r, _ = batch(server, key, tmp_path, "guard", server.seeded["staff"]["guard"])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "registered on %s: 3 passes (3 new, 0 already known)" % server.url in out
    assert "1 without a name" in out
    issued = manifest(tmp_path)
    assert len(issued) == 3
    rows = {cti: (name, unit, role) for cti, name, unit, role in query(
        server, "SELECT p.cti, pe.name, p.building || '-' || p.entrance || '-' || p.room, p.role "
                "FROM gatepass_pass p LEFT JOIN gatepass_person pe ON pe.id = p.person_id")}
    assert rows[issued[0]["cti"]] == ("李伟", "3-1-1203", 0)
    assert rows[issued[1]["cti"]] == ("王芳", "3-1-1204", 0)
    assert rows[issued[2]["cti"]] == (None, "0-0-0", 5)
    # the person's unit too; the pass text the server holds is the issued one (reprinting)
    assert query(server, "SELECT u.building, u.entrance, u.room FROM gatepass_person pe JOIN gatepass_unit u "
                         "ON u.id = pe.unit_id WHERE pe.name = '李伟'") == [(3, 1, 1203)]
    assert query(server, "SELECT text FROM gatepass_pass WHERE cti = ?", issued[0]["cti"])[0][0] == issued[0]["text"]
    # nothing personal in the output directory's manifest or QR texts
    for row in issued:
        assert "李伟" not in str(row) and "13800000001" not in str(row)
    assert query(server, "SELECT actor, action FROM gatepass_auditentry WHERE action = 'pass_register'") == [
        ("guard", "pass_register")]


@pytest.mark.parametrize("case", ["viewer", "wrong-password", "other-community", "no-server"])
def test_refusals_are_one_line_and_issue_nothing(server, key, tmp_path, case):
    before = query(server, "SELECT count(*) FROM gatepass_pass")
    user, pw, community = "guard", server.seeded["staff"]["guard"], "maple"
    srv = server
    if case == "viewer":
        user, pw, want = "watcher", server.seeded["staff"]["watcher"], "needs the operator role"
    elif case == "wrong-password":
        pw, want = pw + "x", "refused the staff login of 'guard'"
    elif case == "other-community":
        community, want = "oak", "community 'oak' does not exist"
    else:
        srv = LiveServer.__new__(LiveServer)
        srv.port = free_port()  # nothing listens there
        want = "cannot reach the server at http://127.0.0.1:%d" % srv.port
    r, _ = batch(srv, key, tmp_path, user, pw, community=community)
    assert r.exit_code == 1, r.output
    out = " ".join(r.output.split())
    assert want in out and "no pass issued" in out and "Traceback" not in r.output
    err_lines = [ln for ln in r.output.splitlines() if ln.startswith("Error")]
    assert len(err_lines) == 1
    assert not (tmp_path / "out").exists()
    assert query(server, "SELECT count(*) FROM gatepass_pass") == before


def test_no_password_without_a_terminal_is_one_line(server, key, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(ROSTER)
    r = CliRunner().invoke(cli, ["pass", "batch", str(path), "--key", str(key), "--community", "maple",
                                 "--out", str(tmp_path / "out"), "--server", server.url, "--staff-user", "guard"],
                           env={"GATEPASS_STAFF_PASSWORD": None}, input="")
    assert r.exit_code == 1 and "GATEPASS_STAFF_PASSWORD" in r.output and not (tmp_path / "out").exists()


def test_a_registration_that_stops_part_way_names_the_lines_and_register_finishes(server, key, tmp_path,
                                                                                  monkeypatch):
    """The server goes away after the first chunk: the lines registered and those not are
    named; `gatepass pass register` with the manifest and the roster brings in the rest,
    and running it again changes nothing."""
    monkeypatch.setattr(reglib, "CHUNK", 2)
    real_post = reglib.Registrar._post
    calls = []

    def flaky(self, body):
        calls.append(len(body["passes"]))
        if len(calls) == 3:  # check, first chunk, then the server is gone
            raise reglib.RegistrationError("cannot reach the server at %s: connection refused" % self.url)
        return real_post(self, body)

    monkeypatch.setattr(reglib.Registrar, "_post", flaky)
    pw = server.seeded["staff"]["guard"]
    r, roster = batch(server, key, tmp_path, "guard", pw)
    assert r.exit_code == 1, r.output
    out = " ".join(r.output.split())
    assert "registered: roster lines 2-3 (2 passes)" in out and "NOT registered: roster lines 4 (1)" in out
    assert "gatepass pass register" in out
    issued = manifest(tmp_path)
    known = {c for (c,) in query(server, "SELECT cti FROM gatepass_pass")}
    assert issued[0]["cti"] in known and issued[1]["cti"] in known and issued[2]["cti"] not in known
    monkeypatch.setattr(reglib.Registrar, "_post", real_post)
    env = {"GATEPASS_STAFF_PASSWORD": pw}
    args = ["pass", "register", str(tmp_path / "out" / "passes.csv"), str(roster), "--community", "maple",
            "--server", server.url, "--staff-user", "guard"]
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 0, r.output
    assert "3 passes (1 new, 2 already known)" in " ".join(r.output.split())
    assert issued[2]["cti"] in {c for (c,) in query(server, "SELECT cti FROM gatepass_pass")}
    n = query(server, "SELECT count(*) FROM gatepass_person")
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 0 and "(0 new, 3 already known)" in " ".join(r.output.split())
    assert query(server, "SELECT count(*) FROM gatepass_person") == n
