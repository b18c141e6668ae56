"""`gatepass device info | selftest`: look at a gate over USB (gatepass.technician.health)."""
from __future__ import annotations

import json

import click

from ..technician import health, logpull
from ..technician.deploy import kb
from ._common import closing_on_error, connect, emit, json_option, out, port_option, restart_option


@click.group("device")
def command() -> None:
    """Look at a gate device over USB: versions, config, health, hardware self-test."""


@command.command("info")
@port_option
@click.option("--log-dir", default=logpull.LOG_DIR, show_default=True)
@restart_option
@json_option
def info_cmd(port, log_dir, restart, as_json):
    """Versions, config summary (no secrets), free heap and flash, event log backlog."""
    dev = connect(port)
    with closing_on_error(dev):
        info = health.info(dev, log_dir)
    dev.close(restart=restart)
    if as_json:
        emit(info, as_json)
        return
    con = out()
    d = info["device"]
    con.print("MicroPython %s (%s) on %s, .mpy v%d.%d %s" % (d["version"], d["release"], d["machine"],
                                                             d["mpy"][0], d["mpy"][1], d["mpy"][2]))
    con.print("unique id %s, heap %s free / %s used, flash %s free of %s"
              % (d.get("uid") or "?", kb(d["mem_free"]), kb(d["mem_alloc"]), kb(d.get("fs_free")),
                 kb(d.get("fs_total"))))
    fwi = info["firmware"]
    con.print("firmware: " + ("not deployed (gatepass deploy)" if not fwi else
                              "gatepass %s build %s for %s" % (fwi.get("version"), fwi.get("build"), fwi.get("board"))))
    c = info["config"]
    if c is None:
        con.print("config: none (gatepass provision)")
    elif "error" in c:
        con.print("config: [red]%s[/red]" % c["error"])
    else:
        con.print("config: " + ", ".join("%s=%s" % kv for kv in c.items()))
    lg = info["log"]
    if not lg:
        con.print("event log: none yet (%s)" % log_dir)
    else:
        con.print("event log: %d segment(s), %s, next seq %d, acknowledged %s, backlog %s, dropped %s"
                  % (lg["segments"], kb(lg["bytes"]), lg["next_seq"], lg["acked"], lg.get("backlog"),
                     lg["dropped"]))


@command.command("selftest")
@port_option
@click.option("--relay", is_flag=True, help="Also pulse the door relay (the door unlocks!).")
@click.option("--relay-ms", default=1000, show_default=True, type=click.IntRange(100, 10000))
@click.option("--yes", is_flag=True, help="Do not ask before pulsing the relay.")
@restart_option
@json_option
def selftest_cmd(port, relay, relay_ms, yes, restart, as_json):
    """Read the thermometer, ping the scanner, read the door contact; pulse the relay only with
    --relay (confirmed). Uses the firmware's own drivers and the board's /board.json."""
    if relay and not yes:
        click.confirm("This unlocks the door for %.1f s. Pulse the relay?" % (relay_ms / 1000), abort=True)
    dev = connect(port)
    with closing_on_error(dev):
        results = health.selftest(dev, relay_ms if relay else 0)
    dev.close(restart=restart)
    if as_json:
        click.echo(json.dumps([{"check": n, "ok": ok, "detail": d} for n, ok, d in results], indent=1))
    else:
        con = out()
        for name, ok, detail in results:
            mark = {True: "[green]ok  [/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a [/yellow]"}[ok]
            con.print("%s %-12s %s" % (mark, name, detail))
    failed = [n for n, ok, _ in results if ok is False]
    unavailable = [n for n, ok, _ in results if ok is None and n == "hardware"]
    if failed:
        raise click.ClickException("self-test failed: " + ", ".join(failed))
    if unavailable:
        raise click.ClickException("self-test could not test any hardware on this board")
