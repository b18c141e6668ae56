"""The `gatepass` command line.

Command families live in gatepass/commands/<module>.py; each module exposes `command`
(a click.Command or click.Group) and is registered here automatically, so adding a
family is adding one file. Library code raises ValueError subclasses; commands turn
them into click errors (exit 1, or 2 for bad input).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from . import __version__, commands


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gatepass")
def cli() -> None:
    """gatepass: passes, keys and devices for community gate checkpoints."""


def _register(group: click.Group) -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module("%s.%s" % (commands.__name__, info.name))
        cmd = getattr(mod, "command", None)
        if not isinstance(cmd, click.Command):
            raise RuntimeError("%s defines no click `command`" % mod.__name__)
        if cmd.name in group.commands:
            raise RuntimeError("two command families named %r" % cmd.name)
        group.add_command(cmd)


_register(cli)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="gatepass")


if __name__ == "__main__":
    sys.exit(main())
