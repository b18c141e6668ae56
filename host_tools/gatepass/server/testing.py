"""Test and benchmark support: a throw-away PostgreSQL cluster, a live server in a
subprocess, seeding, and in-process Django for the test client.

    python -m gatepass.server.testing serve --db URL --home DIR --port P [--workers N]
    python -m gatepass.server.testing seed --db URL --home DIR --spec JSON

PgCluster runs Debian's PostgreSQL binaries (initdb + pg_ctl) on a free loopback port
with its unix socket in the cluster's temporary directory; as root it runs them as the
`postgres` user (initdb refuses to run as root).
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server process exited with %s" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on %s:%d after %.0f s" % (host, port, timeout))


# ------------------------------------------------------------------ PostgreSQL


def pg_bindir() -> Path | None:
    """Directory of initdb/pg_ctl: $GATEPASS_PG_BINDIR, PATH, or Debian's layout."""
    env = os.environ.get("GATEPASS_PG_BINDIR")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
                   if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    if w and shutil.which("pg_ctl"):
        return Path(os.path.realpath(w)).parent
    return None


class PgCluster:
    """A private PostgreSQL server for one test session or benchmark run."""

    def __init__(self, fast: bool = True, bindir: Path | None = None, shared_buffers: str = "128MB"):
        self.bindir = bindir or pg_bindir()
        self.shared_buffers = shared_buffers
        if self.bindir is None:
            raise FileNotFoundError("PostgreSQL binaries not found (Debian: apt-get install postgresql)")
        self.fast = fast
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gatepass-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.log = self.root / "postgres.log"
        self._run_as = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root needs a 'postgres' user to run the server") from None
        self.started = False

    def _run(self, args, **kw):
        if self._run_as is not None:
            kw.update(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
        return subprocess.run(args, check=True, capture_output=True, text=True, **kw)

    def start(self) -> "PgCluster":
        self.sock.mkdir()
        os.chmod(self.root, 0o755)
        if self._run_as is not None:
            for p in (self.root, self.sock):
                os.chown(p, self._run_as.pw_uid, self._run_as.pw_gid)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"])
        opts = ["-c", "listen_addresses=127.0.0.1", "-c", "port=%d" % self.port,
                "-c", "unix_socket_directories=%s" % self.sock, "-c", "max_connections=100",
                "-c", "shared_buffers=%s" % self.shared_buffers]
        if self.fast:
            # test data is thrown away: skip durability work entirely
            opts += ["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                   "-o", " ".join(opts), "start"], cwd=str(self.root))
        self.started = True
        return self

    def url(self, dbname: str = "postgres") -> str:
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, dbname)

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "%s"' % name)
            conn.execute('CREATE DATABASE "%s"' % name)
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            try:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
            except subprocess.CalledProcessError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------ live server


class LiveServer:
    """`gatepass server` in a subprocess (threaded Django server, or gunicorn workers)."""

    def __init__(self, db: str, home: str | Path, port: int | None = None, workers: int = 0,
                 env: dict | None = None, log_dir: str | Path | None = None, seed: dict | None = None):
        self.db = db
        self.seed_spec = seed
        self.seeded: dict | None = None
        self.home = Path(home)
        self.port = port or free_port()
        self.workers = workers
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.staff: tuple[str, str] | None = None
        logs = Path(log_dir) if log_dir else self.home
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logs / "server.out"
        self.stderr_path = logs / "server.err"
        self._gates: dict = {}

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def gate(self, device_id: str):
        """One seeded device's DeviceClient, the same one on every call.

        Its clock never signs two requests in the same second: the server refuses a
        signature it has seen (replay), and two identical heartbeats a test sends within
        one second would carry the same one. A real gate is never that fast."""
        from ..hmacauth import DeviceClient

        if device_id not in self._gates:
            last = [0]

            def clock():
                last[0] = max(int(time.time()), last[0] + 1)
                return last[0]

            secret = self.seeded["devices"][device_id]["secret"]
            self._gates[device_id] = DeviceClient(self.url, device_id, secret, clock=clock)
        return self._gates[device_id]

    def start(self, timeout: float = 60.0) -> "LiveServer":
        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update({"GATEPASS_HOME": str(self.home), "PYTHONUNBUFFERED": "1"})
        env.update(self.env)
        args = [sys.executable, "-m", "gatepass.server.testing", "serve", "--db", self.db, "--home", str(self.home),
                "--port", str(self.port), "--workers", str(self.workers)]
        seed_out = self.stdout_path.with_name("seed.json")
        if self.seed_spec is not None:
            args += ["--seed", json.dumps(self.seed_spec), "--seed-out", str(seed_out)]
        self.proc = subprocess.Popen(args, env=env, stdout=open(self.stdout_path, "wb"),
                                     stderr=open(self.stderr_path, "wb"), stdin=subprocess.DEVNULL)
        try:
            wait_port("127.0.0.1", self.port, timeout, self.proc)
        except Exception:
            self.stop()
            raise RuntimeError("server did not start:\n%s\n%s" % (self.stdout_path.read_text(),
                                                                  self.stderr_path.read_text()[-3000:]))
        out = self.stdout_path.read_text()
        login = password = None
        for line in out.splitlines():
            if line.strip().startswith("login:"):
                login = line.split(":", 1)[1].strip()
            if line.strip().startswith("password:"):
                password = line.split(":", 1)[1].strip()
        if login and password:
            self.staff = (login, password)
        if self.seed_spec is not None:
            self.seeded = json.loads(seed_out.read_text())
        return self

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_tool(db: str, home: str | Path, *args: str, timeout: float = 120.0) -> str:
    """Run `python -m gatepass.server.testing ARGS` against a database; returns stdout."""
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["GATEPASS_HOME"] = str(home)
    r = subprocess.run([sys.executable, "-m", "gatepass.server.testing", *args, "--db", db, "--home", str(home)],
                       env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError("gatepass.server.testing %s failed:\n%s\n%s" % (args, r.stdout, r.stderr))
    return r.stdout


def manage(db: str, home: str | Path, *args: str, timeout: float = 600.0) -> str:
    """Run a Django management command (`python -m gatepass.server ARGS`) on a database."""
    env = dict(os.environ)
    env.update({"DJANGO_SETTINGS_MODULE": "gatepass.server.settings", "GATEPASS_HOME": str(home),
                "DATABASE_URL": db if "://" in db else "sqlite:///" + os.path.abspath(db)})
    r = subprocess.run([sys.executable, "-m", "gatepass.server", *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode:
        raise RuntimeError("manage %s failed:\n%s\n%s" % (args, r.stdout, r.stderr))
    return r.stdout


def seed(db: str, home: str | Path, spec: dict) -> dict:
    """Create a community and devices in a database (subprocess); returns
    {"community": id, "bundle_key": {kid, pub}, "devices": {id: config fragment}}.

    spec: {"community": id, "name": text, "devices": [[id, gate, "in"|"out"], ...]}"""
    out = run_tool(db, home, "seed", "--spec", json.dumps(spec))
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------ in-process Django

_INPROCESS: dict = {}


def configure_inprocess() -> Path:
    """Configure Django in this process with a private SQLite database (migrated).

    The environment is restored afterwards, so subprocesses started later do not
    inherit the test database. Idempotent; returns the data directory."""
    if _INPROCESS:
        return _INPROCESS["home"]
    import django

    home = Path(tempfile.mkdtemp(prefix="gatepass-test-"))
    import atexit

    atexit.register(shutil.rmtree, home, True)
    saved = {k: os.environ.get(k) for k in ("GATEPASS_HOME", "DATABASE_URL", "DJANGO_SETTINGS_MODULE",
                                            "GATEPASS_LANGUAGE")}
    os.environ["GATEPASS_HOME"] = str(home)
    # the test client sends no Accept-Language: tests read the English pages unless they
    # pick a language (the product's default is zh-hans, tests/test_server_i18n.py)
    os.environ["GATEPASS_LANGUAGE"] = "en"
    os.environ["DATABASE_URL"] = "sqlite:///" + str(home / "test.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "gatepass.server.settings"
    try:
        django.setup()
    finally:
        for k, v in saved.items():
            if k == "DJANGO_SETTINGS_MODULE":
                continue  # Django reads it lazily later on
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    # hashing passwords at full strength costs ~0.3 s per login in tests
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    setup_test_environment()
    call_command("migrate", interactive=False, verbosity=0)
    _INPROCESS["home"] = home
    return home


# ------------------------------------------------------------------ command line


def _main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m gatepass.server.testing")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--db", required=True)
    s.add_argument("--home", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--workers", type=int, default=0)
    s.add_argument("--seed", default=None, help="seed spec (JSON) applied before serving")
    s.add_argument("--seed-out", default=None)
    s = sub.add_parser("seed")
    s.add_argument("--db", required=True)
    s.add_argument("--home", required=True)
    s.add_argument("--spec", required=True)
    a = p.parse_args(argv)
    from . import cli

    if a.cmd == "serve":
        cli.prepare(a.db, a.home)
        if a.seed:
            Path(a.seed_out).write_text(json.dumps(_seed(json.loads(a.seed))))
        cli.run_server("127.0.0.1", a.port, a.db, a.home, a.workers, prepared=True)
        return 0
    if a.cmd == "seed":
        from . import setup

        setup(db=a.db, home=a.home)
        cli.migrate()  # no staff account: `serve` creates and prints the first one
        print(json.dumps(_seed(json.loads(a.spec))))
        return 0
    return 2


def _seed(spec: dict) -> dict:
    """spec: {"community": id, "name": text, "devices": [[id, gate, dir], ...],
    "more": [{"community": id, "devices": [...]}, ...] (further communities),
    "staff": [[username, community, role], ...] (accounts with a random password)}."""
    from . import bundlesvc, cli

    c = cli.add_community(spec["community"], spec.get("name", spec["community"]))
    devices = {d[0]: cli.add_device(d[0], c.id, d[1], d[2]) for d in spec.get("devices", [])}
    for more in spec.get("more", []):
        o = cli.add_community(more["community"], more.get("name", more["community"]))
        devices.update({d[0]: cli.add_device(d[0], o.id, d[1], d[2]) for d in more.get("devices", [])})
    staff = {}
    for name, community, role in spec.get("staff", []):
        _, password, _ = cli.add_staff(name, community, role)
        staff[name] = password
    return {"community": c.id, "bundle_key": bundlesvc.bundle_public(c), "devices": devices, "staff": staff}


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
