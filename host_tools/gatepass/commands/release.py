"""`gatepass release`: signed firmware releases for over-the-air updates."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..issuing import keys as keylib
from ..technician import deploy
from ..technician import releases


@click.group("release")
def command() -> None:
    """Signed firmware releases (OTA): build the .mpy set and its signed manifest."""


@command.command("build")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The firmware signing key (a key of its own, from `gatepass keys new`; never an issuer "
                   "or bundle key).")
@click.option("--version", "version", required=True, type=click.IntRange(1, 2**32 - 1),
              help="Release version: above every release the gates have run.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for manifest.cose and the app/, drivers/ .mpy files.")
@click.option("--arch", default="xtensawin", show_default=True,
              help="mpy-cross -march for native modules ('' skips them).")
@click.option("--force", is_flag=True, help="Write into a non-empty directory.")
def release_build(key_path: Path, version: int, out_dir: Path, arch: str, force: bool) -> None:
    """Compile every app/ and drivers/ module and sign the release manifest."""
    try:
        key = keylib.load(key_path)
        info = releases.build_release(key, version, out_dir, arch, force)
    except (keylib.KeyFileError, releases.ReleaseBuildError, deploy.DeployError) as e:
        raise click.ClickException(str(e)) from None
    click.echo("release %d: %d files, %d bytes, signed by key %s -> %s" % (
        version, info["files"], info["bytes"], key.kid.hex(), info["manifest"]), err=True)
    click.echo(json.dumps(info))
