"""`gatepass flash`: MicroPython onto an ESP32 (gatepass.technician.flashing)."""
from __future__ import annotations

from pathlib import Path

import click

from ..technician import flashing
from ._common import BadInput, out


@click.command("flash")
@click.option("--port", "-p", envvar="GATEPASS_PORT", help="Serial port of the board (not needed "
              "with --check-only).")
@click.option("--firmware", "firmware", required=True, type=click.Path(dir_okay=False),
              help="MicroPython .bin for the board (micropython.org/download, e.g. ESP32_GENERIC).")
@click.option("--chip", type=click.Choice(sorted(flashing.FLASH_OFFSET)),
              help="Expected chip: refuse another one; with --check-only, the chip to check for.")
@click.option("--baud", default=460800, show_default=True, help="Baud rate while writing.")
@click.option("--no-erase", is_flag=True, help="Do not erase the whole flash first (keeps the "
              "filesystem: config and event log survive).")
@click.option("--check-only", is_flag=True, help="Only check the file (no board needed).")
def command(port, firmware, chip, baud, no_erase, check_only):
    """Write MicroPython onto an ESP32 (erase + write at 0x1000 on ESP32, 0 on S3/C3).

    The file is refused unless it is a complete MicroPython image for the detected chip.
    Erasing wipes the board's config and event log: pull the logs first (gatepass logs pull)."""
    con = out()
    data = flashing.read_firmware(firmware) if Path(firmware).exists() else None
    if data is None:
        raise BadInput("cannot read %s" % firmware)
    if check_only:
        if not chip:
            raise BadInput("--check-only needs --chip")
        try:
            info = flashing.inspect_firmware(data, chip)
        except flashing.FirmwareError as e:
            raise click.ClickException("refused: %s" % e) from None
        con.print("ok: MicroPython %s (%s, ESP-IDF %s) for %s, written at 0x%x, %d bytes%s"
                  % (info["version"], info["project"], info["idf"], chip, info["offset"], info["size"],
                     "; the gatepass image (app/ and drivers/ frozen in)" if info["gatepass_frozen"] else ""))
        return
    if not port:
        raise BadInput("--port is required (or --check-only)")
    try:
        flashing.flash(port, data, chip, baud, erase=not no_erase, say=con.print)
    except flashing.FirmwareError as e:
        raise click.ClickException(str(e)) from None
    if flashing.is_gatepass_image(data):
        con.print("done: the board restarted into the gatepass image (app/ and drivers/ frozen in). "
                  "Next: gatepass deploy --port %s --board ... (copies boot.py, main.py and the profile)" % port)
    else:
        con.print("done: the board restarted into MicroPython. Next: gatepass deploy --port %s --board ..." % port)
