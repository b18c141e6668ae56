"""`gatepass provision --register --server URL --staff-user ...` against a live server (its
staff API over real HTTP) and a real MicroPython REPL (tests/mpy/replbridge.mjs): the server
makes the device's secret and the board's /config.json gets exactly that one; refusals
leave board and server as they were."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from replbridge import Bridge

from gatepass.technician import provisioning as prov
from gatepass.cli import cli
from gatepass.technician.link import Device
from gatepass.server.testing import LiveServer, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("staffapi-server")
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    srv = LiveServer(db, home, seed={"community": "maple", "devices": [["gate-taken", "Taken", "in"]]}).start()
    assert srv.staff, srv.output()
    yield srv
    srv.stop()


@pytest.fixture
def board():
    with Bridge(main=False) as b:
        yield b


def provision(board, server, *extra: str, env=None, input=None, device_id="gate-w"):
    env = dict(env or {})
    # an HTTP registration must not depend on (or fall back to) a server database here
    env.setdefault("DATABASE_URL", None)
    env.setdefault("GATEPASS_HOME", None)
    return CliRunner().invoke(cli, ["provision", "--port", board.url, "--device-id", device_id,
                                    "--community", "maple", "--direction", "in",
                                    # one gate name per device: names are unique per community and direction
                                    "--gate", "West" if device_id == "gate-w" else "West " + device_id,
                                    "--server", server.url, "--register", "--json", *extra],
                              env=env, input=input)


def stored(server, did: str):
    with sqlite3.connect(server.db[len("sqlite:///"):]) as conn:
        return conn.execute("SELECT secret, gate, community_id, direction FROM gatepass_device WHERE id = ?",
                            (did,)).fetchone()


def board_config(board):
    with Device(board.url) as dev:
        return json.loads(dev.read("/config.json")) if dev.size("/config.json") is not None else None


def test_register_over_http_stores_the_secret_the_board_holds(server, board):
    user, pw = server.staff
    r = provision(board, server, "--staff-user", user, env={"GATEPASS_STAFF_PASSWORD": pw})
    assert r.exit_code == 0, (r.output, r.exception)
    cfg = board_config(board)
    assert cfg["device_id"] == "gate-w" and len(bytes.fromhex(cfg["secret"])) == 32
    assert stored(server, "gate-w") == (cfg["secret"], "West", "maple", 1)
    # the community's trusted keys came back from the server into the config
    assert server.seeded["bundle_key"] in cfg["bundle_keys"] and cfg["issuer_keys"]
    assert cfg["server"] == {"url": server.url, "allow_http": True}


def test_password_is_prompted_when_not_in_the_environment(server, board):
    user, pw = server.staff
    with Device(board.url) as dev:
        dev.write("/config.json", b'{"secret": "%s"}' % (b"ab" * 32), atomic=False)
    r = provision(board, server, env={"GATEPASS_STAFF_USER": user}, input=pw + "\n", device_id="gate-p")
    assert r.exit_code == 0, (r.output, r.exception)
    assert "password" in r.output.lower() and pw not in r.output  # hidden input
    # the board's old secret is replaced by the one the server made
    assert stored(server, "gate-p")[0] == board_config(board)["secret"] != "ab" * 32


@pytest.mark.parametrize("opt", [["--keep-secret"], ["--secret", "cd" * 32]])
def test_the_secret_cannot_be_chosen_when_registering(server, board, opt):
    user, pw = server.staff
    r = provision(board, server, "--staff-user", user, *opt, env={"GATEPASS_STAFF_PASSWORD": pw},
                  device_id="gate-chosen")
    assert r.exit_code == 2 and "the server makes the device's secret" in r.output, r.output
    assert stored(server, "gate-chosen") is None and board_config(board) is None


@pytest.mark.parametrize("case", ["wrong-password", "no-password", "duplicate", "unknown-community",
                                  "no-server"])
def test_refused_registration_leaves_board_and_server_untouched(server, board, case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a refusal after registering would save <id>.provision.json here
    user, pw = server.staff
    extra, env, did, want = ["--staff-user", user], {"GATEPASS_STAFF_PASSWORD": pw}, "gate-" + case, None
    if case == "wrong-password":
        env["GATEPASS_STAFF_PASSWORD"] = pw + "x"
        want = "refused the staff login of %r" % user
    elif case == "no-password":
        env = {"GATEPASS_STAFF_PASSWORD": None}
        want = "GATEPASS_STAFF_PASSWORD"
    elif case == "duplicate":
        did, want = "gate-taken", "already registered"
    elif case == "unknown-community":
        extra += ["--community", "oak"]
        want = "community 'oak' does not exist"
    before_taken = stored(server, "gate-taken")
    if case == "no-server":
        dead = LiveServer.__new__(LiveServer)
        dead.port = free_port()  # nothing listens there
        r = provision(board, dead, *extra, env=env, device_id=did)
        want = "cannot reach the server at http://127.0.0.1:%d" % dead.port
    else:
        r = provision(board, server, *extra, env=env, device_id=did)
    assert r.exit_code == 2, (r.output, r.exception)
    assert want in r.output
    assert "Traceback" not in r.output
    assert board_config(board) is None
    if case != "duplicate":
        assert stored(server, did) is None
    assert stored(server, "gate-taken") == before_taken
    assert not list(Path(tmp_path).glob("*.provision.json"))


def test_without_staff_user_or_database_the_options_are_explained(server, board):
    r = provision(board, server, env={"GATEPASS_STAFF_USER": None})
    assert r.exit_code == 2
    assert "--staff-user" in r.output and "--server-db" in r.output and "gatepass server device" in r.output
    assert board_config(board) is None


def test_https_without_the_servers_ca_is_refused_before_any_secret_is_sent(tmp_path):
    # a TLS server whose certificate is not trusted: the technician must give --ca
    import socket
    import ssl
    import subprocess
    import threading

    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    got = []

    def serve():
        conn, _ = ls.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                got.append(s.recv(4096))
        except (ssl.SSLError, OSError):
            got.append(None)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    url = "https://127.0.0.1:%d" % ls.getsockname()[1]
    with pytest.raises(prov.RegistrationUnavailable, match="--ca"):
        prov.register_over_http(url, "tech", "pw", None, {"device_id": "gate-t", "community": "maple"})
    t.join(10)
    ls.close()
    assert got == [None]  # the handshake failed: no request (and no password) was sent


def test_provisioning_an_id_the_server_knows_says_what_happens_to_the_log(server, board, tmp_path):
    """Issue 12: re-provisioning with a registration's fragment (a re-flashed or replacement
    board keeping its id) tells the technician that the server starts a new seq space and
    shows staff a 'log restarted' event, and that nothing is lost."""
    frag = tmp_path / "gate-taken.json"
    frag.write_text(json.dumps(server.seeded["devices"]["gate-taken"]))
    r = CliRunner().invoke(cli, ["provision", "--port", board.url, "--fragment", str(frag), "--no-restart"])
    assert r.exit_code == 0, (r.output, r.exception)
    out = " ".join(r.output.split())
    assert "already registered" in out and "log restarted" in out and "nothing is lost" in out
    assert board_config(board)["device_id"] == "gate-taken"
