"""`gatepass keys`: issuer key pairs."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..issuing import keys as keylib


@click.group("keys")
def command() -> None:
    """Issuer key pairs (ECDSA P-256) for signing passes."""


@command.command("new")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for <name>.key.pem (0600) and <name>.pub.json.")
@click.option("--kid", help="Key id in hex, 1..16 bytes (default: first 8 bytes of SHA-256 of the public point).")
@click.option("--name", help="File name stem (default: the kid in hex).")
@click.option("--force", is_flag=True, help="Replace existing files.")
def keys_new(out_dir: Path, kid: str | None, name: str | None, force: bool) -> None:
    """Create an issuer key pair; prints the public part the device config takes."""
    try:
        key = keylib.generate(keylib.parse_kid(kid) if kid is not None else None)
        pem, pub = keylib.write(key, out_dir, name, force)
    except keylib.KeyFileError as e:
        raise click.ClickException(str(e)) from None
    click.echo("private key: %s (keep it offline)" % pem, err=True)
    click.echo("public key:  %s" % pub, err=True)
    click.echo(json.dumps({"kid": key.kid.hex(), "pub": key.pub65.hex()}))
