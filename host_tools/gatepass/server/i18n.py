"""The staff pages' message catalogs: compile, extract, check (no Django setup needed).

    python -m gatepass.server.i18n compile   .po -> .mo (Babel; `make` runs it, so does settings)
    python -m gatepass.server.i18n update    extract every msgid (templates, Python, firmware
                                             catalogs) into the .po files, keeping translations
    python -m gatepass.server.i18n check     exit 1 when a msgid is missing or untranslated

The catalogs live in gatepass/server/locale/<lang>/LC_MESSAGES/django.po (the English
msgids are the source text; only zh_Hans needs a file). The .mo files are build output
(not in git): compile() writes them, ensure_compiled() does so when a .po is newer, which
settings.py calls at start-up, so a checkout never serves a stale catalog.

Besides the strings marked in templates and Python, the catalog holds the texts that come
from the firmware's own tables (one source, so the pages and the gate never disagree on
what a code means): every event record kind (context "event kind"), role (context
"role"), community mode (context "mode") and alert kind (context "alert"). Reason
messages are not here: app/reasons.py carries their Chinese, the pages show it as is.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
DOMAIN = "django"
# djangojs: the admin's scripts (only texts Django's own Chinese catalog lacks)
DOMAINS = ("django", "djangojs")
# catalogs with a .po file (English is the msgid itself)
TRANSLATED = ("zh_Hans",)

KEYWORDS = {
    "_": None, "gettext": None, "gettext_lazy": None, "gettext_noop": None,
    "ngettext": (1, 2), "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2), "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "npgettext_lazy": ((1, "c"), 2, 3),
    # problem texts of the issuing package (roster reader): issuing/messages.py
    "message": None, "Message": None,
}
ISSUING = HERE.parent / "issuing"  # its message("...") texts are shown on the roster import page


def po_path(lang: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / (domain + ".po")


def mo_path(lang: str, domain: str = DOMAIN) -> Path:
    return po_path(lang, domain).with_suffix(".mo")


def read_catalog(lang: str, domain: str = DOMAIN):
    from babel.messages.pofile import read_po

    with open(po_path(lang, domain), "rb") as f:
        return read_po(f, locale=lang, domain=domain)


def mo_bytes(lang: str, domain: str = DOMAIN) -> bytes:
    """The compiled catalog of a .po (fuzzy entries left out, as msgfmt does)."""
    from babel.messages.mofile import write_mo

    cat = read_catalog(lang, domain)
    # no "now" in the output: the same .po always compiles to the same bytes
    cat.revision_date = cat.creation_date
    buf = io.BytesIO()
    write_mo(buf, cat, use_fuzzy=False)
    return buf.getvalue()


def catalogs(langs=TRANSLATED):
    return [(lang, domain) for lang in langs for domain in DOMAINS if po_path(lang, domain).exists()]


def compile_catalogs(langs=TRANSLATED) -> list[Path]:
    """Write every .mo (atomically: parallel test workers may compile at once)."""
    out = []
    for lang, domain in catalogs(langs):
        data = mo_bytes(lang, domain)
        target = mo_path(lang, domain)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".django-", suffix=".mo")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        out.append(target)
    return out


def stale(lang: str, domain: str = DOMAIN) -> bool:
    mo, po = mo_path(lang, domain), po_path(lang, domain)
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def ensure_compiled() -> None:
    """Compile the catalogs whose .mo is missing or older than the .po. A read-only
    installation (no write access) keeps what it has."""
    for lang, domain in catalogs():
        if stale(lang, domain):
            try:
                compile_catalogs([lang])
            except OSError as e:
                if not mo_path(lang, domain).exists():
                    print("gatepass: cannot compile %s: %s (pages fall back to English)" % (mo_path(lang, domain), e),
                          file=sys.stderr)


# ------------------------------------------------------------------ extraction


def firmware_msgids() -> list[tuple[str | None, str, str]]:
    """(context, msgid, where) for the texts the pages take from firmware tables."""
    from gatepass.mp.fw import record, roles, settings as fw_settings

    out = []
    for k, name in sorted(record.KIND_NAMES.items()):
        out.append(("event kind", name, "firmware app/record.py kind %d" % k))
    for r, name in enumerate(roles.NAMES):
        out.append(("role", name, "firmware app/roles.py role %d" % r))
    for m, name in enumerate(fw_settings.MODES):
        out.append(("mode", name, "firmware app/settings.py mode %d" % m))
    from gatepass.server.labels import ALERT_KINDS

    for kind in ALERT_KINDS:
        out.append(("alert", kind, "models.Alert.KINDS"))
    return out


def _source_files():
    yield from sorted(ISSUING.glob("*.py"))
    for p in sorted(HERE.rglob("*")):
        if "migrations" in p.parts or "__pycache__" in p.parts or "locale" in p.parts:
            continue
        if p.suffix == ".py" or (p.suffix == ".html" and "templates" in p.parts):
            yield p


def extract() -> list[tuple[str | None, object, str]]:
    """(context, msgid or (singular, plural), location) for every marked string."""
    from babel.messages.extract import extract as bx

    out = []
    for p in _source_files():
        text = p.read_text(encoding="utf-8")
        if p.suffix == ".html":
            from django.utils.translation.template import templatize

            text = templatize(text, origin=str(p))
        rel = p.relative_to(HERE if HERE in p.parents else HERE.parent).as_posix()
        for lineno, msg, _comments, ctx in bx("python", io.BytesIO(text.encode("utf-8")), keywords=KEYWORDS):
            if msg:
                out.append((ctx, msg, "%s:%d" % (rel, lineno)))
    for ctx, msg, where in firmware_msgids():
        out.append((ctx, msg, where))
    return out


def _template_catalog():
    from babel.messages.catalog import Catalog

    cat = Catalog(domain=DOMAIN, project="gatepass", charset="utf-8")
    for ctx, msg, where in extract():
        if isinstance(msg, tuple):
            msg = tuple(m for m in msg if m is not None)
        path, _, line = where.partition(":")
        cat.add(msg, context=ctx, locations=[(path, int(line) if line.isdigit() else None)])
    return cat


def update() -> None:
    """Merge the extracted msgids into every .po (translations kept, obsolete dropped)."""
    from babel.messages.pofile import write_po

    template = _template_catalog()
    for lang in TRANSLATED:
        cat = read_catalog(lang)
        cat.update(template, no_fuzzy_matching=True, update_header_comment=False, update_creation_date=False)
        cat.obsolete.clear()
        with open(po_path(lang), "wb") as f:
            write_po(f, cat, width=100, sort_output=False, include_previous=False)


def problems(lang: str = "zh_Hans") -> list[str]:
    """Missing or untranslated msgids of one language's catalogs (empty: complete)."""
    out = []
    for domain in DOMAINS[1:]:
        if po_path(lang, domain).exists():
            for m in read_catalog(lang, domain):
                if m.id and (m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string))):
                    out.append("%s: untranslated: %r" % (po_path(lang, domain).name, m.id))
    cat = read_catalog(lang)
    for ctx, msg, where in extract():
        key = msg[0] if isinstance(msg, tuple) else msg
        m = cat.get(key, context=ctx)
        if m is None:
            out.append("%s: not in %s: %r%s" % (where, po_path(lang).name, key, " (context %s)" % ctx if ctx else ""))
        elif m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)):
            out.append("%s: untranslated in %s: %r" % (where, lang, key))
    return out


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "compile"
    if cmd == "compile":
        for p in compile_catalogs():
            print("compiled %s" % p)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatepass.server.settings")
    if cmd == "update":
        update()
        compile_catalogs()
        return 0
    if cmd == "check":
        bad = problems()
        for line in bad:
            print(line)
        print("%d problem(s)" % len(bad))
        return 1 if bad else 0
    print("usage: python -m gatepass.server.i18n compile|update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
