"""`gatepass sim`: simulated gates running the real firmware, with a scripted crowd."""
from __future__ import annotations

import sys

import click

from ..sim import profile_names


@click.command("sim")
@click.option("--community", default="greenhill", show_default=True, help="Community id of the passes and gates.")
@click.option("--entrance-board", default="esp32-devkitc", show_default=True, type=click.Choice(profile_names()),
              help="Board profile of the entrance gate.")
@click.option("--exit-board", default="esp32-wrover-maglock", show_default=True, type=click.Choice(profile_names()),
              help="Board profile of the exit gate.")
@click.option("--pace", type=float, default=0.0, show_default=True, help="Real seconds to wait between rows.")
@click.option("--keep", type=click.Path(file_okay=False), help="Keep each gate's flash (event log, lists) in this directory.")
def command(community: str, entrance_board: str, exit_board: str, pace: float, keep: str | None) -> None:
    """Run an entrance and an exit gate (the real firmware on simulated boards, virtual
    time) with a scripted crowd; one row per decision, then a summary. Exit status 1
    when a decision differs from the script."""
    from ..issuing import keys as keylib
    from ..mp import compat as mpcompat
    from ..sim import crowd

    mpcompat.install()
    mpcompat.add_firmware_path()
    con = crowd.console()
    issuer = keylib.generate()
    bundle_key = keylib.generate()
    con.print("[bold]gatepass sim[/bold]: community %s, issuer key %s, bundle key %s"
              % (community, issuer.kid.hex(), bundle_key.kid.hex()))
    res = crowd.play(con, issuer, bundle_key, community, boards=(entrance_board, exit_board), keep_flash=keep,
                     pace_s=pace)
    if keep:
        con.print("flash directories kept in %s" % keep)
    sys.exit(0 if res.ok else 1)
