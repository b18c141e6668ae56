"""Entry points for `gatepass server ...` (wired into gatepass.cli by `register`).

Plain functions first (usable from the demo and tests), then the click commands:

    gatepass server [--host H] [--port P] [--db URL_OR_PATH] [--home DIR] [--workers N]
    gatepass server purge [--days N]
    gatepass server staff USERNAME (--community C --role viewer|operator|admin | --superuser) [--password P]
    gatepass server unlock USERNAME
    gatepass server community ID NAME [--mode M] [--threshold C]
    gatepass server device ID --community C --gate NAME --direction in|out
    gatepass server roster FILE --community C [--dry-run] [--no-passes] [--encoding E]
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import secrets
import socket
import sys

import click

from ..mp.fw import settings as _fw_settings
from . import setup

MODES = _fw_settings.MODES  # community modes: firmware/app/settings.py
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def migrate(verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


def create_staff(username: str = "admin", password: str | None = None, only_if_none: bool = True,
                 superuser: bool = True) -> tuple[str, str] | None:
    """Create a staff account; with only_if_none, only when no staff account exists yet.

    Returns (username, password) when one was created (the password is shown once and
    stored only as a hash), else None."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if only_if_none and User.objects.filter(is_staff=True).exists():
        return None
    password = password or secrets.token_urlsafe(12)
    if superuser:
        User.objects.create_superuser(username=username, password=password, email="")
    else:
        User.objects.create_user(username=username, password=password, is_staff=True)
    return username, password


def add_staff(username: str, community: str | None = None, role: str | None = None, password: str | None = None,
              superuser: bool = False) -> tuple[str, str | None, str]:
    """Create an account with a role in a community (or a superuser), or give an existing
    account that role. Returns (username, password or None when the account existed,
    what was done). Recorded in the audit log."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from . import access, audit
    from .models import Community

    if not superuser and not (community and role):
        raise ValueError("give --community ID --role viewer|operator|admin, or --superuser")
    if community and not Community.objects.filter(pk=community).exists():
        raise ValueError("community %r does not exist" % community)
    if role and role not in access.ROLES:
        raise ValueError("role must be one of %s" % ", ".join(access.ROLES))
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        new_password = None
        if user is None:
            new_password = password or secrets.token_urlsafe(12)
            if superuser:
                user = User.objects.create_superuser(username=username, password=new_password, email="")
            else:
                user = User.objects.create_user(username=username, password=new_password)
            audit.record(None, "staff_add", community or "", username, "superuser" if superuser else "account")
            done = "created"
        else:
            done = "updated"
            if password or (superuser and user.is_superuser and not community):
                raise ValueError("staff account %r exists already: choose another name (or change its "
                                 "password in the admin, /admin/)" % username)
            if superuser and not user.is_superuser:
                user.is_superuser = user.is_staff = True
                user.save(update_fields=["is_superuser", "is_staff"])
                audit.record(None, "staff_change", "", username, "made superuser")
        if community and role:
            before = access.role_of(user, community) if not user.is_superuser else None
            _, created = access.add_member(user, community, role)
            if created or before != role:
                audit.record(None, "member_add" if created else "member_change", community, username,
                             role if created else "%s -> %s" % (before, role))
            done += ", %s of %s" % (role, community)
    return username, new_password, done


def unlock(username: str) -> int:
    """Lift a login lockout of a user name (every address); returns the attempts removed."""
    from axes.utils import reset

    return reset(username=username)


def purge_events(days: int | None = None, now=None, chunk: int = 10000) -> int:
    """Delete events older than `days` (default: each community's retention_days), their
    alerts and gaps, and old auth-failure rows. Returns the number of events deleted."""
    from django.db import transaction
    from django.utils import timezone

    from .models import Alert, AuthFailure, Community, Event, Gap, SeenSignature

    now = now or timezone.now()
    total = 0
    for c in Community.objects.all():
        keep = days if days is not None else c.retention_days
        cutoff = now - dt.timedelta(days=keep)
        old = Event.objects.filter(device__community=c, at__lt=cutoff)
        while True:
            ids = list(old.values_list("id", flat=True)[:chunk])
            if not ids:
                break
            with transaction.atomic():
                Alert.objects.filter(event_id__in=ids).delete()
                total += Event.objects.filter(id__in=ids).delete()[0]
        Gap.objects.filter(device__community=c, detected_at__lt=cutoff).delete()
    keep_all = days if days is not None else max([c.retention_days for c in Community.objects.all()] or [90])
    AuthFailure.objects.filter(at__lt=now - dt.timedelta(days=keep_all)).delete()
    SeenSignature.objects.filter(expires__lt=int(now.timestamp())).delete()
    return total


def add_community(cid: str, name: str, mode: int = 0, threshold_cc: int = 3730, retention_days: int = 90):
    from .bundlesvc import create_community

    return create_community(cid, name, mode=mode, threshold_cc=threshold_cc, retention_days=retention_days)


def add_device(device_id: str, community: str, gate: str, direction: str = "in", secret: str | None = None,
               server_url: str | None = None) -> dict:
    """Register a gate device; returns the fragment of its device config (app/config.py)
    that the server knows: id, secret, community, gate, direction, trusted keys."""
    from . import bundlesvc
    from .models import DIR_IN, DIR_OUT, Community, Device, FirmwareKey, IssuerKey

    c = Community.objects.get(pk=community)
    d = Device(id=device_id, community=c, gate=gate, direction={"in": DIR_IN, "out": DIR_OUT}[direction])
    if secret:
        d.secret = secret
    d.full_clean()
    d.save()
    cfg = {
        "device_id": d.id, "secret": d.secret, "community": c.id, "gate": d.gate, "direction": direction,
        "bundle_keys": [bundlesvc.bundle_public(c)],
        "issuer_keys": [{"kid": k.kid, "pub": k.pub} for k in IssuerKey.objects.filter(community=c, active=True)],
    }
    fw = [{"kid": k.kid, "pub": k.pub} for k in FirmwareKey.objects.filter(community=c, active=True)]
    if fw:  # releases (OTA) are checked with these on the gate (docs/ota.md)
        cfg["firmware_keys"] = fw
    if server_url:
        cfg["server"] = {"url": server_url, "allow_http": server_url.startswith("http://")}
    return cfg


def prepare(db: str | None = None, home: str | None = None, quiet: bool = False) -> tuple[str, str] | None:
    """Configure Django, apply migrations, make the first staff account if none exists."""
    setup(db=db, home=home)
    migrate()
    created = create_staff()
    if created and not quiet:
        click.echo("First staff account created (shown once, store it now):")
        click.echo("  login:    %s" % created[0])
        click.echo("  password: %s" % created[1])
    return created


def run_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, db: str | None = None,
               home: str | None = None, workers: int = 0, prepared: bool = False) -> None:
    """Migrate, make the first staff account, then serve until interrupted.

    workers = 0: Django's threaded WSGI server (one process, one thread per request:
    plenty for a community's gates and a few staff screens); workers >= 1: gunicorn
    with that many sync worker processes (production-like; needs gunicorn installed)."""
    wildcard = host in ("0.0.0.0", "::", "")
    if not wildcard and host not in ("127.0.0.1", "localhost", "::1"):
        # the address the server was told to listen on is one it answers to
        extra = os.environ.get("GATEPASS_ALLOWED_HOSTS", "")
        os.environ["GATEPASS_ALLOWED_HOSTS"] = ",".join(h for h in (extra, "[%s]" % host if ":" in host else host) if h)
    if not prepared:
        prepare(db, home)
    from django.conf import settings

    click.echo("gatepass server on http://%s:%d/  (device API /api/device/v1/, admin /admin/)" % (host, port))
    if wildcard and settings.ALLOWED_HOSTS == ["127.0.0.1", "localhost", "[::1]"]:
        click.echo("note: listening on every address but answering only loopback host names: set "
                   "GATEPASS_ALLOWED_HOSTS to the names/addresses gates and staff use (or GATEPASS_PUBLIC_URL)")
    if workers:
        run_gunicorn(host, port, workers)
        return
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    from .serving import TimeoutWSGIServer

    run(host, port, get_wsgi_application(), ipv6=":" in host, threading=True, server_cls=TimeoutWSGIServer)


def run_gunicorn(host: str, port: int, workers: int, threads: int = 1, quiet: bool = False) -> None:
    """exec gunicorn (replaces this process) with the same environment."""
    os.environ.setdefault("GATEPASS_CONN_MAX_AGE", "60")
    args = [sys.executable, "-m", "gunicorn", "gatepass.server.wsgi:application", "-b", "%s:%d" % (host, port),
            "-w", str(workers), "--threads", str(threads), "--timeout", "60", "--graceful-timeout", "5"]
    if threads <= 1:
        # a read timeout on every client socket (gatepass.server.serving)
        args += ["-k", "gatepass.server.gunicorn_worker.TimeoutSyncWorker"]
    if not quiet and os.environ.get("GATEPASS_ACCESS_LOG") == "1":
        args += ["--access-logfile", "-"]
    sys.stdout.flush()
    os.execv(sys.executable, args)


# ------------------------------------------------------------------ one-line errors


@contextlib.contextmanager
def database_errors():
    """A DATABASE_URL that cannot be parsed or a database that cannot be reached becomes one
    click error line (exit 1) saying what to do, not a traceback."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        yield
    except (ValueError, ImproperlyConfigured) as e:
        raise click.ClickException("the database setting is not usable: %s (give --db or DATABASE_URL as "
                                   "postgresql://USER:PASSWORD@HOST:PORT/NAME, or an SQLite file path)"
                                   % e) from None
    except Exception as e:
        from django.db import DatabaseError

        if not isinstance(e, DatabaseError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise click.ClickException("cannot use the database: %s (is the database server running, and are "
                                   "host, port, user, password and database name in --db/DATABASE_URL "
                                   "right?)" % first) from None


def check_port(host: str, port: int) -> None:
    """Refuse a port that cannot be listened on (in use, or not allowed) in one line."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise click.ClickException("port %d on %s is in use (another gatepass server?): stop it, or "
                                           "choose another port with --port" % (port, host)) from None
            raise click.ClickException("cannot listen on %s port %d: %s (check --host and --port)"
                                       % (host, port, e.strerror or e)) from None


def _invalid(e) -> str:
    """A Django ValidationError as one line."""
    msgs = getattr(e, "message_dict", None)
    if msgs:
        return "; ".join("%s: %s" % (k, " ".join(v)) for k, v in msgs.items())
    return " ".join(getattr(e, "messages", [str(e)]))


# ------------------------------------------------------------------ click wiring

_db_option = click.option("--db", default=None, help="DATABASE_URL (postgresql://...) or an SQLite file path")
_home_option = click.option("--home", default=None, help="data directory (default $GATEPASS_HOME or ./var)")


@click.group("server", invoke_without_command=True)
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@_db_option
@_home_option
@click.option("--workers", default=0, show_default=True, type=int,
              help="0: threaded Django server; N: gunicorn with N worker processes")
@click.pass_context
def server_group(ctx, host, port, db, home, workers):
    """Run the community server (migrations applied, first staff account printed)."""
    ctx.ensure_object(dict)
    ctx.obj["db"], ctx.obj["home"] = db, home
    if ctx.invoked_subcommand is None:
        check_port(host, port)
        with database_errors():
            prepare(db, home)
        run_server(host, port, db, home, workers, prepared=True)


def _prep(ctx):
    with database_errors():
        setup(db=ctx.obj.get("db"), home=ctx.obj.get("home"))
        migrate()


@server_group.command("purge")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="keep this many days (default: each community's retention setting)")
@click.pass_context
def purge_cmd(ctx, days):
    """Delete events older than the retention period."""
    _prep(ctx)
    n = purge_events(days)
    click.echo("purged %d event(s)" % n)


@server_group.command("staff")
@click.argument("username")
@click.option("--community", default=None, help="community id the account works for")
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), default=None,
              help="viewer reads; operator also acknowledges alerts and issues/revokes passes; "
              "admin also changes rules, registers devices, manages staff")
@click.option("--password", default=None, help="default: a random one for a new account, printed once")
@click.option("--superuser/--no-superuser", default=False, help="every community and the Django admin")
@click.pass_context
def staff_cmd(ctx, username, community, role, password, superuser):
    """Create a staff account with a role in a community (or give an existing one that role)."""
    if bool(community) != bool(role):
        raise click.ClickException("--community and --role go together")
    if not community and not superuser:
        raise click.ClickException("give --community ID --role viewer|operator|admin (or --superuser)")
    _prep(ctx)
    try:
        u, p, done = add_staff(username, community, role, password, superuser)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo("%s: %s" % (u, done))
    if p:
        click.echo("login: %s\npassword: %s" % (u, p))


@server_group.command("unlock")
@click.argument("username")
@click.pass_context
def unlock_cmd(ctx, username):
    """Lift a failed-login lockout of an account."""
    _prep(ctx)
    n = unlock(username)
    click.echo("%s: %d failed-login record(s) removed" % (username, n))


@server_group.command("community")
@click.argument("cid")
@click.argument("name")
@click.option("--mode", type=click.Choice(MODES), default=MODES[0])
@click.option("--threshold", type=click.FloatRange(35.0, 40.0), default=37.3, show_default=True)
@click.option("--retention-days", type=click.IntRange(min=1), default=90, show_default=True)
@click.pass_context
def community_cmd(ctx, cid, name, mode, threshold, retention_days):
    """Create a community (with its bundle signing key and a pass issuer key)."""
    _prep(ctx)
    from . import bundlesvc
    from .models import Community

    if Community.objects.filter(pk=cid).exists():
        raise click.ClickException("community %r exists already (its settings are on the Rules page)" % cid)
    c = add_community(cid, name, MODES.index(mode), int(round(threshold * 100)),
                      retention_days)
    click.echo(json.dumps({"community": c.id, "bundle_key": bundlesvc.bundle_public(c)}, indent=2))


@server_group.command("firmware-key")
@click.argument("key")
@click.option("--community", required=True)
@click.pass_context
def firmware_key_cmd(ctx, key, community):
    """Trust a firmware release key in a community (OTA): KEY is the <kid>.pub.json of `gatepass keys
    new` (or inline JSON). Releases signed by it can be published; gates registered from now on get it
    in their config (firmware_keys)."""
    _prep(ctx)
    from django.core.exceptions import ValidationError

    from ..technician.provisioning import ProvisionError, load_key
    from . import audit
    from .models import Community, FirmwareKey

    try:
        k = load_key(key)
    except ProvisionError as e:
        raise click.ClickException(str(e)) from None
    if not Community.objects.filter(pk=community).exists():
        raise click.ClickException("no community %r" % community)
    fk = FirmwareKey(community_id=community, kid=str(k["kid"]).lower(), pub=str(k["pub"]).lower())
    if FirmwareKey.objects.filter(community_id=community, kid=fk.kid).exists():
        raise click.ClickException("firmware key %s is already trusted in %s" % (fk.kid, community))
    try:
        fk.full_clean()
    except ValidationError as e:
        raise click.ClickException("firmware key not added: %s" % _invalid(e)) from None
    fk.save()
    audit.record(None, "firmwarekey_add", community, fk.kid, "cli")
    click.echo("firmware key %s trusted in %s" % (fk.kid, community))


@server_group.command("device")
@click.argument("device_id")
@click.option("--community", required=True)
@click.option("--gate", required=True)
@click.option("--direction", type=click.Choice(["in", "out"]), required=True)
@click.option("--url", default=None, help="server URL to put into the config fragment")
@click.pass_context
def device_cmd(ctx, device_id, community, gate, direction, url):
    """Register a gate device; prints its config fragment (with the secret) as JSON."""
    _prep(ctx)
    from django.core.exceptions import ValidationError

    from .models import Community

    if not Community.objects.filter(pk=community).exists():
        known = ", ".join(Community.objects.values_list("pk", flat=True)) or "none yet"
        raise click.ClickException("no community %r (known: %s); create it first: gatepass server community "
                                   "%s NAME" % (community, known, community))
    try:
        fragment = add_device(device_id, community, gate, direction, server_url=url)
    except ValidationError as e:
        raise click.ClickException("device %s not registered: %s" % (device_id, _invalid(e))) from None
    from . import audit

    audit.record(None, "device_add", community, device_id, "cli: %s %s" % (gate, direction))
    click.echo(json.dumps(fragment, indent=2))


@server_group.command("roster")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--community", required=True)
@click.option("--encoding", default=None, help="CSV text encoding (default: detected; UTF-8 with or without BOM, "
              "GBK/GB18030, UTF-16). XLSX needs none.")
@click.option("--dry-run", is_flag=True, help="show what the import would do; write nothing")
@click.option("--passes/--no-passes", default=True, show_default=True,
              help="issue a pass to each person without a valid one of the row's role and unit")
@click.pass_context
def roster_cmd(ctx, path, community, encoding, dry_run, passes):
    """Import people, units and passes from a roster (CSV or XLSX, the columns of `gatepass pass
    batch` plus 姓名/name, 电话/phone, 备注/note). Idempotent: a re-import adds nothing twice and
    lists what changed. Every import is in the audit log."""
    _prep(ctx)
    from pathlib import Path

    from . import people
    from .models import Community

    c = Community.objects.filter(pk=community).first()
    if c is None:
        raise click.ClickException("no community %r (create it first: gatepass server community %s NAME)"
                                   % (community, community))
    rows, problems = people.read_roster(Path(path).read_bytes(), path, c.pk, encoding)
    if problems:
        for pr in problems:
            click.echo("%s: %s%s: %s" % (path, "line %d: " % pr.line if pr.line else "", pr.field, pr.message),
                       err=True)
        click.echo("%d problem(s), nothing imported" % len(problems), err=True)
        sys.exit(2)
    res = people.apply(c, rows, issue_passes=passes, commit=not dry_run, source="roster %s (cli)" % Path(path).name)
    for r in res.rows:
        if r.person == "new" or r.changes or r.pass_state in ("issued", "registered"):
            what = {"new": "new person", "changed": "changed: " + "; ".join(str(x) for x in r.changes)}.get(
                r.person, "")
            click.echo("line %d: %s %s %s%s" % (r.line, r.name, r.unit or "-", what,
                                               (", pass " + r.pass_state + (" " + r.cti if r.cti else ""))
                                               if r.pass_state in ("issued", "registered") else ""))
    click.echo(("dry run, nothing written: " if dry_run else "imported: ") + res.summary_text())


def register(cli_group: click.Group) -> None:
    """Add `server` (and its subcommands) to the top-level `gatepass` click group."""
    cli_group.add_command(server_group)
