"""`gatepass server ...` given bad input, as a new user meets it: one line saying what is
wrong and what to do, a non-zero exit, never a traceback. Each case runs the real command
in its own process (Django is configured once per process)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from server_helpers import db, dj  # noqa: F401  (django configured for the page test)
from test_server_pages import staff  # noqa: F401


def gatepass(home, *args, env=None):
    e = dict(os.environ, GATEPASS_HOME=str(home))
    e.pop("DATABASE_URL", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "gatepass.cli", *args], capture_output=True, text=True,
                          env=e, timeout=120)


def one_line_error(r, *words):
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, words", [
    ("postgresql://gp:pw@127.0.0.1:%d/gatepass", ("cannot use the database", "DATABASE_URL")),
    ("postgresql://[bad", ("not usable", "postgresql://USER:PASSWORD@HOST:PORT/NAME")),
    ("mysql://host/db", ("not usable", "unsupported scheme")),
], ids=["unreachable", "malformed", "unsupported"])
@pytest.mark.parametrize("via", ["--db", "env"])
def test_bad_database_url_is_one_line(tmp_path, url, words, via):
    if "%d" in url:
        url = url % free_closed_port()  # nothing listens there
    if via == "--db":
        r = gatepass(tmp_path, "server", "--db", url, "purge")
    else:
        r = gatepass(tmp_path, "server", "purge", env={"DATABASE_URL": url})
    one_line_error(r, *words)


def test_busy_port_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = gatepass(tmp_path, "server", "--port", str(port))
    one_line_error(r, "port %d" % port, "in use", "--port")


def test_device_for_an_unknown_community_names_the_fix(tmp_path):
    assert gatepass(tmp_path, "server", "community", "greenhill", "Green Hill").returncode == 0
    line = one_line_error(gatepass(tmp_path, "server", "device", "gate-1", "--community", "nosuch", "--gate", "North",
                                   "--direction", "in"), "no community 'nosuch'", "greenhill")
    fix = line.split("create it first: ")[1].replace("NAME", "Nosuch")
    assert gatepass(tmp_path, *fix.split()[1:]).returncode == 0  # the command it suggests works
    r = gatepass(tmp_path, "server", "device", "gate-1", "--community", "nosuch", "--gate", "North", "--direction", "in")
    assert r.returncode == 0 and '"device_id": "gate-1"' in r.stdout, r.stderr
    one_line_error(gatepass(tmp_path, "server", "device", "gate-1", "--community", "nosuch", "--gate", "North",
                            "--direction", "in"), "gate-1", "already exists")


def test_existing_staff_name_and_community_are_one_line(tmp_path):
    r = gatepass(tmp_path, "server", "staff", "warden", "--superuser", "--password", "a-long-password-1")
    assert r.returncode == 0 and "login: warden" in r.stdout, r.stderr
    one_line_error(gatepass(tmp_path, "server", "staff", "warden", "--superuser"), "'warden' exists already")
    one_line_error(gatepass(tmp_path, "server", "staff", "nobody"), "--community ID --role")
    assert gatepass(tmp_path, "server", "community", "greenhill", "Green Hill").returncode == 0
    one_line_error(gatepass(tmp_path, "server", "community", "greenhill", "Green Hill"), "exists already")


def test_the_empty_state_page_command_works(tmp_path, staff):
    """The page staff see before any community exists names a command: it must run."""
    import html
    import re

    page = staff.get("/").content.decode()
    cmds = [html.unescape(c) for c in re.findall(r"<code>(gatepass [^<]+)</code>", page)]
    assert cmds, page
    for cmd in cmds:
        args = [{"ID": "eastgate", "NAME": "East"}.get(a, a) for a in cmd.split()[1:]]
        r = gatepass(tmp_path, *args)
        assert r.returncode == 0, (cmd, r.stderr)
        assert '"community": "eastgate"' in r.stdout
