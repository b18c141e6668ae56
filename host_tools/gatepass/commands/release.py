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


_server_options = [
    click.option("--server", "server_url", required=True, envvar="GATEPASS_SERVER",
                 help="Community server URL (https://..., or http:// for a test server); env GATEPASS_SERVER."),
    click.option("--community", required=True, envvar="GATEPASS_COMMUNITY",
                 help="Community id the release is for; env GATEPASS_COMMUNITY."),
    click.option("--staff-user", required=True, envvar="GATEPASS_STAFF_USER",
                 help="Staff account (admin of the community to publish); password from "
                      "GATEPASS_STAFF_PASSWORD or prompted."),
    click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False),
                 help="PEM file of the CA that signed the server certificate (https)."),
]


def _server(f):
    for opt in reversed(_server_options):
        f = opt(f)
    return f


def _client(server_url, staff_user, ca_file):
    import os

    password = os.environ.get("GATEPASS_STAFF_PASSWORD")
    if password is None:
        try:
            password = click.prompt("Server password for staff %s" % staff_user, hide_input=True, err=True)
        except click.Abort:
            raise click.ClickException("no password for %s (set GATEPASS_STAFF_PASSWORD for a non-interactive "
                                       "run)" % staff_user) from None
    try:
        return releases.StaffClient(server_url, staff_user, password, ca_file)
    except releases.PublishError as e:
        raise click.ClickException(str(e)) from None


@command.command("publish")
@click.argument("rel_dir", type=click.Path(file_okay=False, path_type=Path))
@_server
@click.option("--tier", type=click.Choice(["mpy", "frozen"]), default="mpy", show_default=True,
              help="Board tier the release is for (the profile's \"firmware\").")
@click.option("--note", default="", help="A line for staff (what changed).")
@click.option("--json", "as_json", is_flag=True, help="Print the server's release record as JSON.")
def release_publish(rel_dir: Path, server_url, community, staff_user, ca_file, tier, note, as_json) -> None:
    """Upload a built release (gatepass release build) to the community server: checked there against
    the community's firmware keys, every file against the signed manifest; then staff roll it out
    from the Releases page."""
    from ._common import bytes_progress

    try:
        releases.read_release(rel_dir)  # local check first: a damaged copy is named before the login
    except releases.PublishError as e:
        raise click.ClickException(str(e)) from None
    client = _client(server_url, staff_user, ca_file)
    try:
        with bytes_progress() as prog:
            task = prog.add_task("uploading %s" % rel_dir, total=None)
            rec = releases.publish(client, rel_dir, community, tier, note,
                                   progress=lambda d, t: prog.update(task, completed=d, total=t))
    except releases.PublishError as e:
        raise click.ClickException(str(e)) from None
    click.echo("published release %s (%s, %s files, %s bytes) in %s" % (
        rec.get("version"), rec.get("tier"), rec.get("files"), rec.get("bytes"), community), err=as_json)
    if as_json:
        click.echo(json.dumps(rec))


@command.command("list")
@_server
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def release_list(server_url, community, staff_user, ca_file, as_json) -> None:
    """The releases published in a community (newest first) and their latest rollout."""
    client = _client(server_url, staff_user, ca_file)
    try:
        rows = releases.list_releases(client, community)
    except releases.PublishError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no release published in %s yet (gatepass release publish DIR --server URL --community %s "
                   "--staff-user NAME)" % (community, community))
        return
    click.echo("%-8s %-6s %5s %9s  %-19s %-10s %s" % ("version", "tier", "files", "bytes", "published", "rollout",
                                                       "by"))
    for r in rows:
        click.echo("%-8s %-6s %5s %9s  %-19s %-10s %s" % (
            r["version"], r["tier"], r["files"], r["bytes"], (r.get("published_at") or "")[:19].replace("T", " "),
            r.get("rollout") or "-", r.get("published_by") or ""))
