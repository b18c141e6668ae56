"""`gatepass deploy`: the firmware onto a board (gatepass.technician.deploy.run)."""
from __future__ import annotations

from pathlib import Path

import click

from ..technician import deploy as dep
from ._common import (BadInput, bytes_progress, closing_on_error, connect, console, emit, finish,
                      json_option, port_option, progress_bar, restart_option, sayer)


@click.command("deploy")
@port_option
@click.option("--board", "board", required=True,
              help="Board profile: a name in boards/ (%s) or a JSON file." % ", ".join(dep.profile_names()))
@click.option("--mip/--no-mip", default=True, show_default=True,
              help="Install micropython-lib packages the profile needs (ssd1306 for a display); "
                   "needs network on this laptop.")
@click.option("--mip-index", default=None, help="Package index for mip (default micropython.org).")
@click.option("--force", is_flag=True, help="Copy every file even when the board has it.")
@click.option("--dry-run", is_flag=True, help="Only show what would be copied.")
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Firmware tree to deploy (default: this checkout's firmware/).")
@restart_option
@json_option
def command(port, board, mip, mip_index, force, dry_run, source, restart, as_json):
    """Compile firmware/ for the board and copy what changed; verify; restart the gate."""
    con = console(as_json)
    say = sayer(con)
    try:
        profile = dep.load_profile(board)
        for w in dep.check_profile(profile):
            say("warning", w)
    except dep.DeployError as e:
        raise BadInput(str(e)) from None
    try:
        cross = dep.mpy_cross_version()
    except dep.DeployError as e:
        raise click.ClickException(str(e)) from None
    dev = connect(port)
    bars = {}  # one live bar at a time: compiling (files), then copying (bytes)

    def progress(stage, done, total):
        kind = "compiling" if stage == "compiling" else "copying"
        if kind not in bars:
            for bar, _task in bars.values():
                bar.stop()
            bar = progress_bar() if kind == "compiling" else bytes_progress()
            bar.start()
            bars[kind] = (bar, bar.add_task(kind, total=total))
        bar, task = bars[kind]
        bar.update(task, description=stage, completed=done, total=total)

    with closing_on_error(dev, refused=dep.DeployError):
        try:
            result = dep.run(dev, profile, source=source, force=force, dry_run=dry_run, mip=mip,
                             mip_index=mip_index, cross=cross, progress=progress, say=say)
        finally:
            for bar, _task in bars.values():
                bar.stop()
    if dry_run:
        finish(dev, restart)
        emit(result, as_json)
        return
    result["boot_output"] = finish(dev, restart, con if not as_json else None)
    con.print("deploy: %d copied, %d unchanged, %d removed, build %s"
              % (len(result["copied"]), result["unchanged"], len(result["removed"]), result["build"]))
    emit(result, as_json)
