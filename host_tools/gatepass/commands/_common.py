"""What the technician commands share: options, consoles, progress bars, and turning a
board session's errors into one-line click errors. Not a command family (leading _)."""
from __future__ import annotations

import contextlib
import json
import sys

import click
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeRemainingColumn)

from ..technician.link import Device, DeviceError, DeviceExecError


class BadInput(click.ClickException):
    exit_code = 2


def out() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def console(as_json: bool) -> Console:
    """Human output: stdout, or stderr when stdout carries the JSON result."""
    return out() if not as_json else Console(file=sys.stderr, highlight=False)


def progress_bar(**kw) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True, **kw)


def bytes_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True)


def track(prog: Progress, task):
    """A (done, total) progress callback updating `task` of `prog`."""
    return lambda d, t: prog.update(task, completed=d, total=t)


_STYLE = {"note": "[yellow]note:[/yellow] ", "warning": "[yellow]warning:[/yellow] ", "error": "[red]error:[/red] "}


def sayer(con: Console):
    """A worker's say(level, text) printing on `con`."""
    return lambda level, text: con.print(_STYLE.get(level, "") + text, markup=True, highlight=False)


port_option = click.option("--port", "-p", required=True, envvar="GATEPASS_PORT",
                           help="Serial port of the board (/dev/ttyUSB0, u0, a0, COM3, or a pyserial "
                                "URL such as socket://127.0.0.1:PORT); env GATEPASS_PORT.")
restart_option = click.option("--restart/--no-restart", default=True, show_default=True,
                              help="Soft-reset the board afterwards so the gate (main.py) runs again.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def connect(port: str) -> Device:
    try:
        return Device(port)
    except DeviceError as e:
        raise click.ClickException(str(e)) from None


def finish(dev: Device, restart: bool, con: Console | None = None) -> str:
    text = dev.close(restart=restart)
    if con is not None and text.strip():
        con.print("[bold]board output after soft reset:[/bold]")
        con.print(text.rstrip(), markup=False)
    return text


def device_error(e: Exception) -> click.ClickException:
    if isinstance(e, DeviceExecError):
        return click.ClickException("the board raised %s:\n%s" % (e.exc_type, e.traceback))
    return click.ClickException(str(e))


@contextlib.contextmanager
def closing_on_error(dev: Device, refused: tuple = (), restart: bool = False,
                     as_error: type = click.ClickException):
    """Close the board session on any error leaving the block. An error in `refused` (the
    worker's own refusal) closes with `restart` and becomes `as_error(str(e))`; a DeviceError
    becomes a ClickException carrying the board's traceback; anything else is re-raised.
    On success the command closes the session itself (it decides about the soft reset)."""
    try:
        yield dev
    except refused as e:
        dev.close(restart=restart)
        raise as_error(str(e)) from None
    except DeviceError as e:
        dev.close()
        raise device_error(e) from None
    except BaseException:
        dev.close()
        raise


def emit(result, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=1, sort_keys=True))
