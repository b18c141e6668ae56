"""`gatepass pass`: issue passes, one at a time or from a roster."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import fonts
from ..issuing import cards
from ..issuing import keys as keylib
from ..issuing import passes as iss
from ..issuing import qr
from ..issuing import roster as rosterlib


def _load_key(path: Path, kid: str | None) -> keylib.IssuerKey:
    try:
        return keylib.load(path, keylib.parse_kid(kid) if kid is not None else None)
    except keylib.KeyFileError as e:
        raise click.ClickException(str(e)) from None


def _common(f):
    """Options shared by `pass issue` and `pass batch`."""
    opts = [
        click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Issuer private key (.key.pem); its kid comes from the sibling .pub.json."),
        click.option("--kid", help="Override the key id (hex)."),
        click.option("--community", required=True, help="Community id (the pass issuer, 1..32 bytes)."),
        click.option("--days", type=int, help="Valid for N whole days from the start (default 30)."),
        click.option("--from", "start", metavar="DATE", help="Start: YYYY-MM-DD or ISO date-time (default: today 00:00)."),
        click.option("--until", metavar="DATE", help="Last valid day YYYY-MM-DD (inclusive) or ISO date-time."),
        click.option("--dirs", default="in,out", show_default=True, help="Allowed directions: in, out or in,out."),
        click.option("--tz", default="local", show_default=True,
                     help="Time zone for dates without an offset: local, UTC, +08:00, Asia/Shanghai."),
        click.option("--strict", is_flag=True, help="Refuse (issue nothing) when a pass would already be "
                     "expired; without it a warning is printed."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _expiry_check(specs, zone, strict: bool, roster=None) -> None:
    """Warn about passes that would already be expired (gates refuse them: EXPIRED); with
    --strict refuse them all (exit 1, nothing issued)."""
    late = [(line, spec) for line, spec in specs if iss.expired(spec.exp)]
    if not late:
        return
    for line, spec in late:
        where = "%s line %d: " % (roster, line) if line is not None else ""
        click.echo("%s: %sthe pass is already expired (last valid %s): every gate refuses it (EXPIRED)"
                   % ("error" if strict else "warning", where, cards.validity_text(spec.nbf, spec.exp, zone)[1]),
                   err=True)
    if strict:
        raise click.ClickException("%d expired pass(es), none issued (--strict): give a later --until "
                                   "or --days" % len(late))


@click.group("pass")
def command() -> None:
    """Signed gate passes (GP1 QR codes)."""


@command.command("issue")
@_common
@click.option("--role", required=True,
              help="One of %s (or in Chinese: %s)." % (", ".join(iss.ROLES), "、".join(iss.ROLES_ZH)))
@click.option("--unit", help="Home unit building-entrance-room, e.g. 3-1-1203 or 3栋1单元1203室 (required for residents).")
@click.option("--label", default="", help="Short display label, at most 16 characters (no personal data).")
@click.option("--cti", help="Pass id in hex (8..16 bytes; default: 8 random bytes).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the QR code to FILE.png (with the pass in Chinese under it) or FILE.svg.")
def pass_issue(key_path, kid, community, days, start, until, dirs, tz, strict, role, unit, label, cti, out) -> None:
    """Issue one pass: prints the GP1: text on stdout."""
    key = _load_key(key_path, kid)
    try:
        zone = iss.parse_tz(tz)
        nbf, exp = iss.validity(days, start, until, tz=zone)
        cti_b = None
        if cti:
            try:
                cti_b = bytes.fromhex(cti)
            except ValueError:
                raise iss.PassSpecError("cti", "must be hex") from None
        spec = iss.new_spec(community, role, unit, dirs, label, nbf, exp, cti=cti_b)
        _expiry_check([(None, spec)], zone, strict)
        p = iss.issue(key, spec)
        if out:
            qr.write_qr(p.text, out, caption=rosterlib.pass_caption(spec, zone))
    except iss.PassSpecError as e:
        raise click.BadParameter(e.message, param_hint="--" + e.field) from None
    except fonts.FontMissing as e:
        raise click.ClickException(str(e)) from None
    a, b = cards.validity_text(spec.nbf, spec.exp, zone)
    click.echo("%s %s unit %s dirs %s valid %s .. %s, id %s, %d characters%s"
               % (community, spec.role_name, spec.unit_text, iss.dirs_text(spec.dirs), a, b, spec.cti.hex(),
                  len(p.text), ", QR " + str(out) if out else ""), err=True)
    click.echo(p.text)


@command.command("batch")
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_common
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory: QR PNG + SVG per row, passes.csv, cards.pdf.")
@click.option("--encoding", help="Text encoding of a CSV roster (default: detected; UTF-8 with or without "
                                 "BOM, GBK/GB18030, UTF-16). XLSX needs none.")
@click.option("--server", "server_url", help="Community server URL: register every pass issued there with its "
              "holder (name, phone, unit from the roster), so the staff pages show who a pass belongs to.")
@click.option("--staff-user", envvar="GATEPASS_STAFF_USER", default=None, help="With --server: staff account "
              "(operator or admin of the community; password from GATEPASS_STAFF_PASSWORD or prompted).")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="With --server https://...: PEM file of the CA that signed the server certificate.")
def pass_batch(roster, key_path, kid, community, days, start, until, dirs, tz, strict, out_dir, encoding,
               server_url, staff_user, ca_file) -> None:
    """Issue one pass per roster row and print cards.pdf. ROSTER: CSV or XLSX with a header
    row, columns unit,role,label,days,from,until,dirs or in Chinese 房号,身份,标签,天数,
    开始日期,截止日期,方向; name/phone/id_number/email/notes (姓名, 电话, 身份证号, 备注 ...)
    never reach a pass or a card: with --server they go to the community server only."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..issuing import register as reglib

    key = _load_key(key_path, kid)
    registrar = _registrar(server_url, staff_user, ca_file) if server_url else None
    try:
        fonts.card_font_path()  # before anything is written
    except fonts.FontMissing as e:
        raise click.ClickException(str(e)) from None
    try:
        zone = iss.parse_tz(tz)
        iss.parse_dirs(dirs)
        if days is not None or start or until:
            iss.validity(days, start, until, tz=zone)  # check the defaults once, before the rows
        rows = rosterlib.load_roster(roster, community, days, start, until, dirs, tz=zone, encoding=encoding)
    except iss.PassSpecError as e:
        raise click.BadParameter(e.message, param_hint="--" + e.field) from None
    except rosterlib.RosterError as e:
        for line, field, msg in e.problems:
            if field == "file":
                click.echo("%s: %s%s" % (roster, "line %d: " % line if line else "", msg), err=True)
            else:
                click.echo("%s: line %d: field %r: %s" % (roster, line, field, msg), err=True)
        click.echo("%d problem(s), no pass issued" % len(e.problems), err=True)
        sys.exit(2)
    _expiry_check([(r.line, r.spec) for r in rows], zone, strict, roster)
    if registrar is not None:
        try:  # login, role and community first: a refusal issues nothing
            registrar.check(community)
        except reglib.RegistrationError as e:
            raise click.ClickException("%s: no pass issued" % e) from None
    console = Console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("issuing", total=len(rows))
        try:
            issued, pdf = rosterlib.batch(key, rows, out_dir, zone, progress=lambda p: progress.advance(task))
        except fonts.FontMissing as e:
            raise click.ClickException(str(e)) from None
    pages = (len(issued) + 9) // 10
    console.print("%d passes in %s (PNG + SVG each), manifest passes.csv, cards %s (%d page%s)"
                  % (len(issued), out_dir, pdf.name, pages, "" if pages == 1 else "s"))
    if registrar is not None:
        _register(registrar, console, community, roster, [(r.line, r.extra) for r in rows],
                  [reglib.item(r.line, p, r.extra) for r, p in zip(rows, issued)], out_dir)


def _registrar(server_url, staff_user, ca_file):
    """The staff API client of --server, --staff-user (password: GATEPASS_STAFF_PASSWORD or prompted)."""
    import os

    from ..issuing import register as reglib

    if not staff_user:
        raise click.UsageError("--server needs a staff account: --staff-user NAME (or GATEPASS_STAFF_USER)")
    password = os.environ.get("GATEPASS_STAFF_PASSWORD")
    if password is None:
        try:
            password = click.prompt("Server password for staff %s" % staff_user, hide_input=True, err=True)
        except click.Abort:
            raise click.ClickException("--staff-user %s: no password (set GATEPASS_STAFF_PASSWORD for a "
                                       "non-interactive run)" % staff_user) from None
    try:
        return reglib.Registrar(server_url, staff_user, password, ca_file)
    except reglib.RegistrationError as e:
        raise click.ClickException(str(e)) from None


def _register(registrar, console, community, roster, rows, items, out_dir) -> None:
    """Every issued pass onto the server with its holder; a failure names the roster lines
    that are registered and those that are not (exit 1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..issuing import register as reglib

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console) as progress:
        task = progress.add_task("registering", total=len(items))
        try:
            answer = registrar.register(community, items, source="pass batch %s" % Path(roster).name,
                                        progress=lambda n: progress.advance(task, n))
        except reglib.RegistrationFailed as e:
            done = ("registered: roster lines %s (%d pass%s); " % (reglib.lines_text(e.done), len(e.done),
                                                                    "" if len(e.done) == 1 else "es")
                    if e.done else "none registered; ")
            raise click.ClickException(
                "%s: %sNOT registered: roster lines %s (%d): those passes are valid at the gates but the server "
                "does not know their holders; register them later with `gatepass pass register %s %s --community "
                "%s --server %s`" % (e.reason, done, reglib.lines_text(e.missing), len(e.missing),
                                     Path(out_dir) / "passes.csv", roster, community, registrar.url)) from None
    states = [r.get("pass_state") for r in answer]
    unnamed = sum(1 for it in items if not it["name"])
    console.print("registered on %s: %d pass%s (%d new, %d already known)%s"
                  % (registrar.url, len(answer), "" if len(answer) == 1 else "es", states.count("registered"),
                     len(answer) - states.count("registered"),
                     "; %d without a name (a name column in the roster links a pass to its holder)" % unnamed if unnamed else ""))


@command.command("register")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--community", required=True, help="Community id (as in the passes).")
@click.option("--server", "server_url", required=True, help="Community server URL.")
@click.option("--staff-user", envvar="GATEPASS_STAFF_USER", default=None, help="Staff account (operator or admin "
              "of the community; password from GATEPASS_STAFF_PASSWORD or prompted).")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="For https://: PEM file of the CA that signed the server certificate.")
@click.option("--encoding", help="Text encoding of a CSV roster (default: detected).")
def pass_register(manifest, roster, community, server_url, staff_user, ca_file, encoding) -> None:
    """Register passes issued before (MANIFEST: the passes.csv of `pass batch`) with their holders
    from the ROSTER they were issued from (matched by roster line). Passes the server already
    knows stay as they are: safe to run again."""
    import csv

    from rich.console import Console

    from ..issuing import register as reglib
    from ..issuing import tables

    registrar = _registrar(server_url, staff_user, ca_file)
    try:
        table, _how = tables.read_table(roster, encoding)
    except tables.TableError as e:
        raise click.ClickException("%s: %s" % (roster, e.message)) from None
    header, extra = None, {}
    for line, cells in table:
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [rosterlib.header_name(c) for c in cells]
            continue
        extra[line] = {k: v.strip() for k, v in zip(header, cells) if k in rosterlib.ROSTER_IGNORED}
    items = []
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                line = int(rec["roster_line"])
                role = iss.parse_role(rec["role"])
                e = extra.get(line, {})
                items.append({"line": line, "cti": rec["cti"], "kid": rec["kid"], "role": role,
                              "unit": rec["unit"] if rec["unit"] != "0-0-0" else "", "dirs": iss.parse_dirs(rec["dirs"]),
                              "label": rec["label"], "nbf": int(rec["nbf"]), "exp": int(rec["exp"]), "text": rec["text"],
                              "name": " ".join(e.get("name", "").split())[:100], "phone": e.get("phone", "")[:32],
                              "note": (e.get("note") or e.get("notes") or "")[:200]})
    except (KeyError, ValueError, iss.PassSpecError) as e:
        raise click.ClickException("%s is not a passes.csv of `gatepass pass batch` (%s)" % (manifest, e)) from None
    try:
        registrar.check(community)
    except reglib.RegistrationError as e:
        raise click.ClickException("%s: none registered" % e) from None
    _register(registrar, Console(stderr=True), community, roster, None, items, Path(manifest).parent)
