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
def pass_batch(roster, key_path, kid, community, days, start, until, dirs, tz, strict, out_dir, encoding) -> None:
    """Issue one pass per roster row and print cards.pdf. ROSTER: CSV or XLSX with a header
    row, columns unit,role,label,days,from,until,dirs or in Chinese 房号,身份,标签,天数,
    开始日期,截止日期,方向; name/phone/id_number/email/notes (姓名, 电话, 身份证号, 备注 ...)
    are allowed and ignored: they never reach a pass or a card."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    key = _load_key(key_path, kid)
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
