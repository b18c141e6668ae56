"""`gatepass logs pull`: the gate's event log over USB (gatepass.technician.logpull)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..technician import logpull
from ._common import (BadInput, bytes_progress, closing_on_error, connect, console, json_option, port_option,
                      progress_bar, restart_option, track)


@click.group("logs")
def command() -> None:
    """The gate's event log over USB (when its Wi-Fi is down)."""


@command.command("pull")
@port_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the decoded "
              "records to FILE.csv or FILE.json.")
@click.option("--raw", "raw_file", type=click.Path(dir_okay=False), help="Write the valid records "
              "as stored (32 bytes each, seq order).")
@click.option("--forward", "forward_url", default=None, help="Also upload them to this server "
              "with the device's own credentials (idempotent with its Wi-Fi uploads).")
@click.option("--log-dir", default=logpull.LOG_DIR, show_default=True)
@restart_option
@json_option
def pull_cmd(port, out_file, raw_file, forward_url, log_dir, restart, as_json):
    """Copy the event log off the board, check every record's CRC, decode (reason codes spelled
    out), report torn/corrupt/dropped records, and optionally forward to the server."""
    if out_file and not out_file.endswith((".csv", ".json")):
        raise BadInput("--out must end in .csv or .json")
    con = console(as_json)
    dev = connect(port)
    with closing_on_error(dev, refused=logpull.LogError, restart=restart):
        with bytes_progress() as prog:
            task = prog.add_task("reading log", total=None)
            got = logpull.collect(dev, log_dir, with_config=bool(forward_url), progress=track(prog, task))
    dev.close(restart=restart)
    rep = got.report
    seqs = [d["seq"] for _, d in rep.records]
    con.print("%d record(s)%s from %d segment(s), %s" % (
        len(rep.records), (" seq %d..%d" % (seqs[0], seqs[-1])) if seqs else "", len(rep.segments),
        "cursor: acknowledged %d, dropped %d" % (rep.cursor["acked"], rep.cursor["dropped"])
        if rep.cursor else "no valid cursor"))
    for p in rep.problems:
        con.print("[yellow]%s:[/yellow] %s" % (p["kind"], p["detail"]))
    if out_file:
        text = logpull.to_csv(rep) if out_file.endswith(".csv") else logpull.to_json(rep, got.device)
        Path(out_file).write_text(text)
        con.print("wrote %s" % out_file)
    if raw_file:
        Path(raw_file).write_bytes(rep.raw)
        con.print("wrote %s (%d bytes)" % (raw_file, len(rep.raw)))
    fwd = None
    if forward_url:
        try:
            with progress_bar() as prog:
                task = prog.add_task("forwarding", total=len(rep.records))
                fwd = logpull.forward_as_device(rep, forward_url, got.config, progress=track(prog, task))
        except logpull.LogError as e:
            raise click.ClickException(str(e)) from None
        con.print("forwarded to %s: %d stored, %d already there, %d rejected; server holds up to seq %d"
                  % (forward_url, fwd["stored"], fwd["duplicates"], fwd["rejected"], fwd["acked_seq"]))
    if as_json:
        click.echo(json.dumps({"records": len(rep.records), "first": seqs[0] if seqs else None,
                               "last": seqs[-1] if seqs else None, "problems": rep.problems,
                               "cursor": rep.cursor, "forward": fwd}, indent=1))
