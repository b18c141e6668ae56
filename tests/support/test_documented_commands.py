"""Every `gatepass ...` command shown to people (README, docs/, the server's pages, and the
hints the program prints) names a real command with real options: each is resolved
through the click tree and every option it uses must exist there. (The commands that do
something without hardware are also run end to end by their own tests, e.g. the
empty-state page's in tests/server/test_server_cli_errors.py.)"""
from __future__ import annotations

import html
import re
import shlex
from pathlib import Path

import click
import pytest

from gatepass.cli import cli

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = "keys|pass|server|sim|flash|deploy|provision|device|logs|release"
CMD = re.compile(r"(?:\.venv/bin/)?gatepass ((?:%s)(?=[ \n]|$)[^`\"'\n)|]*)" % FAMILIES)


def _joined(text: str) -> str:
    return re.sub(r"\\\n\s*", " ", text)  # shell continuation lines


def documented() -> list[tuple[str, str]]:
    found = []
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in CMD.finditer(_joined(f.read_text())):
            found.append((str(f.relative_to(ROOT)), m.group(1)))
    for f in sorted((ROOT / "host_tools/gatepass/server/templates").rglob("*.html")):
        text = html.unescape(re.sub(r"<[^>]+>", "\n", f.read_text()))
        for m in CMD.finditer(text):
            found.append((str(f.relative_to(ROOT)), m.group(1)))
    for f in sorted((ROOT / "host_tools/gatepass").rglob("*.py")):
        for m in CMD.finditer(f.read_text()):
            if (" --" in m.group(1) or "%s" in m.group(1)) and "(" not in m.group(1):  # a printed hint, not prose
                found.append((str(f.relative_to(ROOT)), m.group(1)))
    return found


def _words(line: str) -> list[str]:
    line = line.split("  #")[0].split(" # ")[0]
    line = line.replace("[", " ").replace("]", " ")  # [--relay]: optional parts are options too
    line = line.replace("%s", "X").replace("%d", "1")
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def _resolve(words: list[str]):
    cmd: click.Command = cli
    path = []
    for w in words:
        if isinstance(cmd, click.Group) and w in cmd.commands:
            cmd = cmd.commands[w]
            path.append(w)
        elif isinstance(cmd, click.Group) and not w.startswith("-") and not path:
            return None, path
        else:
            continue
    return cmd, path


def _options(cmd: click.Command) -> set[str]:
    opts = {"--help", "-h"}
    for p in cmd.params:
        if isinstance(p, click.Option):
            opts.update(p.opts)
            opts.update(p.secondary_opts)
    return opts


CASES = documented()


def test_the_docs_show_commands():
    assert len(CASES) > 40
    shown = {c.split()[0] for _f, c in CASES}
    assert {"keys", "pass", "server", "sim", "flash", "deploy", "provision", "device", "logs"} <= shown


@pytest.mark.parametrize("where, line", CASES, ids=["%s:%s" % (f, c[:40]) for f, c in CASES])
def test_documented_command_exists_with_its_options(where, line):
    words = _words(line)
    cmd, path = _resolve(words)
    assert cmd is not None and path, "%s: `gatepass %s`: no such command" % (where, line)
    known = set()
    c: click.Command = cli
    for name in path:  # options of every group on the way count (gatepass server --db ... purge)
        c = c.commands[name]  # type: ignore[attr-defined]
        known |= _options(c)
    for w in words:
        if w.startswith("-") and not w.startswith("---") and w not in ("-", "--"):
            opt = w.split("=")[0]
            assert opt in known, "%s: `gatepass %s`: %s has no option %s" % (where, line, " ".join(path), opt)
    # no more positional words than the command takes (`community add ID NAME` is one too many)
    takes_value = {o for p in cmd.params if isinstance(p, click.Option) and not p.is_flag and not p.count
                   for o in p.opts}
    rest = words[words.index(path[-1]) + 1:]
    positional, skip = 0, False
    for w in rest:
        if skip:
            skip = False
        elif w.startswith("-"):
            skip = w in takes_value
        elif w not in ("...", "…"):
            positional += 1
    args = [p for p in cmd.params if isinstance(p, click.Argument)]
    if not isinstance(cmd, click.Group) and not any(a.nargs == -1 for a in args):
        assert positional <= sum(a.nargs for a in args), "%s: `gatepass %s`: extra arguments" % (where, line)
