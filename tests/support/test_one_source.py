"""One source for each shared fact (issue 9): role and mode names are written once, in
firmware/app/roles.py and app/settings.py; host tools and the server import them; the
server's models do not import its services."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from server_helpers import dj  # noqa: F401  (Django configured for the API modules)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("firmware", "host_tools/gatepass") for p in (ROOT / d).rglob("*.py")
           if "migrations" not in p.parts and "__pycache__" not in p.parts]
FACTS = {
    "role names": (re.compile(r"""["']resident["']\s*,\s*["']medical["']"""), "firmware/app/roles.py"),
    "mode names": (re.compile(r"""["']prevention["']\s*,\s*["']control["']"""), "firmware/app/settings.py"),
}


def test_role_and_mode_names_are_written_once():
    for fact, (pattern, home) in FACTS.items():
        where = sorted(str(p.relative_to(ROOT)) for p in SOURCES if pattern.search(p.read_text()))
        assert where == [home], (fact, where)


def test_host_and_server_use_the_firmware_names():
    from gatepass.issuing import bundles, passes
    from gatepass.mp.fw import roles, settings
    from gatepass.server import cli

    assert passes.ROLES is roles.NAMES and bundles.MODES is settings.MODES and cli.MODES is settings.MODES


def test_models_do_not_import_services():
    tree = ast.parse((ROOT / "host_tools/gatepass/server/models.py").read_text())
    imported = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            imported.add(n.module or "")
            imported.update(a.name for a in n.names)
    for service in ("bundlesvc", "ingest", "peers", "views", "api", "staffapi"):
        assert service not in imported, service


def test_uplinktask_has_one_way_to_start():
    src = (ROOT / "firmware/app/uplinktask.py").read_text()
    assert "def start(" not in src and "def build(" in src


def _tables(text: str) -> list[list[list[str]]]:
    """Markdown tables as lists of rows of cells (header first, the --- row dropped)."""
    tables, cur = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = []
                tables.append(cur)
            if not all(set(c) <= set("-: ") for c in cells):
                cur.append(cells)
        else:
            cur = None
    return tables


def test_readme_links_the_reason_codes_and_has_well_formed_mode_and_settings_tables():
    from gatepass.mp.fw import reasons, settings

    readme = (ROOT / "README.md").read_text()
    assert "(docs/reason-codes.md)" in readme
    tables = _tables(readme)
    for t in tables:  # every row has the header's number of cells
        assert all(len(row) == len(t[0]) for row in t), t[0]
    assert not [t for t in tables if t[0][:2] == ["Code", "Name"]], "the reason table lives in docs/reason-codes.md"
    assert not any(reasons.message(reasons.FEVER) in row for t in tables for row in t)
    modes = [t for t in tables if t[0] == ["mode", "going out", "coming in"]]
    assert len(modes) == 1 and [row[0] for row in modes[0][1:]] == list(settings.MODES)
    keys = [t for t in tables if t[0] == ["key", "default", "meaning"]]
    assert len(keys) == 1
    listed = {k.strip().strip("`") for row in keys[0][1:] for k in row[0].split(",")}
    assert listed == set(settings.validate({})), listed ^ set(settings.validate({}))


def test_indicator_and_door_numbers_are_defined_once():
    defs = re.compile(r"^\s*(SHOW_[A-Z]+|DOOR_[A-Z]+|ALLOW|DENY|FEVER|FAULT|BUSY|OPENED|CLOSED|HELD_OPEN|FORCED_OPEN)"
                      r"\s*=\s*const\(", re.M)
    where = {}
    for p in SOURCES:
        if p.name == "reasons.py":  # reason FEVER (20) is another fact
            continue
        for m in defs.finditer(p.read_text()):
            where.setdefault(m.group(1), []).append(str(p.relative_to(ROOT)))
    assert where and all(files == ["firmware/app/codes.py"] for files in where.values()), where


def test_one_error_schema_for_both_apis(dj):
    from gatepass.server import apierrors, api, staffapi

    assert api.ErrorOut is apierrors.ErrorOut and staffapi.ErrorOut is apierrors.ErrorOut
    srcs = [(ROOT / "host_tools/gatepass/server" / n).read_text() for n in ("api.py", "staffapi.py")]
    assert not any("class ErrorOut" in s for s in srcs)


def test_one_backoff_with_jitter():
    # the jittered draw from [d/2, d] is written once; uplink and Wi-Fi use app/backoff.py
    where = sorted(str(p.relative_to(ROOT)) for p in SOURCES if re.search(r"d - half \+ ", p.read_text()))
    assert where == ["firmware/app/backoff.py"], where
    assert "backoff.jittered" in (ROOT / "firmware/drivers/wifi.py").read_text()
    assert "from app.backoff import Backoff" in (ROOT / "firmware/app/uplink.py").read_text()
