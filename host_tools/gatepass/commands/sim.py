"""`gatepass sim`: simulated gates running the real firmware, interactive or a scripted crowd."""
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
@click.option("--script", "scripted", is_flag=True, help="Play the scripted crowd (one row per decision, then a "
              "summary; exit status 1 when a decision differs from the script) instead of the interactive session.")
@click.option("--pace", type=float, default=0.0, show_default=True, help="With --script: real seconds between rows.")
@click.option("--keep", type=click.Path(file_okay=False), help="Keep each gate's flash (event log, lists) in this directory.")
@click.option("--issuer-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Trust (and issue roster rows with) this issuer key (.key.pem from gatepass keys new), so passes "
                   "made with gatepass pass issue scan as valid; default: a new key.")
def command(community: str, entrance_board: str, exit_board: str, scripted: bool, pace: float, keep: str | None,
            issuer_key: str | None) -> None:
    """An entrance and an exit gate: the real firmware on simulated boards, virtual time.

    Interactive (default): present a pass as GP1 text, a QR PNG or a roster row, set the
    temperature, choose the gate, and see the decision, the display, the LEDs and the door
    relay (`help` inside lists the commands). With --script: the scripted crowd."""
    from ..issuing import keys as keylib
    from ..mp import compat as mpcompat
    from ..sim import crowd

    mpcompat.install()
    mpcompat.add_firmware_path()
    con = crowd.console()
    try:
        issuer = keylib.load(issuer_key) if issuer_key else keylib.generate()
    except keylib.KeyFileError as e:
        raise click.ClickException(str(e)) from None
    bundle_key = keylib.generate()
    con.print("[bold]gatepass sim[/bold]: community %s, issuer key %s, bundle key %s"
              % (community, issuer.kid.hex(), bundle_key.kid.hex()))
    if not scripted:
        from ..sim import interactive

        s = interactive.Session(issuer, bundle_key, community, boards=(entrance_board, exit_board), keep_flash=keep)
        def read(prompt: str) -> str:
            try:
                return click.prompt(prompt, default="", show_default=False, prompt_suffix="")
            except click.Abort:  # end of input or Ctrl-C: the session ends
                raise EOFError from None

        try:
            interactive.run(con, s, read=read)
        finally:
            s.close()
        if keep:
            con.print("flash directories kept in %s" % keep)
        return
    res = crowd.play(con, issuer, bundle_key, community, boards=(entrance_board, exit_board), keep_flash=keep,
                     pace_s=pace)
    if keep:
        con.print("flash directories kept in %s" % keep)
    sys.exit(0 if res.ok else 1)
