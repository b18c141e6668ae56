"""Flash MicroPython onto an ESP32 with esptool, refusing files that would not boot there.

    info = inspect_firmware(data, "esp32")   # FirmwareError unless a MicroPython image for it
    flash(port, path)                        # detect chip, check, erase, write, hard reset

A MicroPython release .bin for ESP32 boards (micropython.org/download) is the whole flash
image minus the first 4 KB on the ESP32 (ROM reads the bootloader at 0x1000) or from 0 on
the ESP32-S2 (0x1000 too), -S3, -C3, -C6: bootloader image, partition table at flash 0x8000,
then the app at its partition (0x10000). Checks, all against esptool's own parser
(esptool.bin_image.LoadFirmwareImage):
- bootloader: magic 0xE9, the extended header's chip id is the board's, segments and
  checksum (and the appended SHA-256 when flagged) are intact;
- partition table: present (magic AA 50) with an app partition;
- app: same checks, and its esp_app_desc_t (first bytes of the first segment, magic
  0xABCD5432) names the project "micropython".
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

# image header chip ids (esptool targets' IMAGE_CHIP_ID)
CHIP_IDS = {0: "esp32", 2: "esp32s2", 5: "esp32c3", 9: "esp32s3", 12: "esp32c2", 13: "esp32c6",
            16: "esp32h2"}
# where a MicroPython release image is written (the bootloader's flash address)
FLASH_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0,
                "esp32c2": 0x0, "esp32c6": 0x0, "esp32h2": 0x0}
PARTITION_TABLE = 0x8000
APP_DESC_MAGIC = 0xABCD5432
IMAGE_MAGIC = 0xE9


class FirmwareError(ValueError):
    """The file must not be flashed on this board (message says why)."""


def chip_key(name: str) -> str:
    """esptool's CHIP_NAME ("ESP32-S3") -> our key ("esp32s3")."""
    return name.lower().replace("-", "").replace("(", "").replace(")", "").split()[0]


def _load(chip: str, data: bytes, what: str):
    from esptool.bin_image import LoadFirmwareImage

    try:
        img = LoadFirmwareImage(chip, data)
    except Exception as e:  # esptool's FatalError / struct errors / RuntimeError
        raise FirmwareError("%s: not a valid %s image (%s)" % (what, chip, e)) from None
    if img.checksum != img.calculate_checksum():
        raise FirmwareError("%s: checksum mismatch (file damaged or truncated)" % what)
    if getattr(img, "append_digest", False) and img.stored_digest != img.calc_digest:
        raise FirmwareError("%s: SHA-256 digest mismatch (file damaged)" % what)
    return img


def _chip_of(data: bytes, what: str) -> str:
    if len(data) < 24 or data[0] != IMAGE_MAGIC:
        raise FirmwareError("%s: no ESP image header (first byte 0x%02x, expected 0xE9): not an "
                            "ESP32 firmware .bin" % (what, data[0] if data else 0))
    cid = struct.unpack_from("<H", data, 12)[0]
    return CHIP_IDS.get(cid, "chip id %d" % cid)


def app_description(img) -> dict | None:
    """esp_app_desc_t at the start of the app's first segment, or None."""
    if not img.segments:
        return None
    d = bytes(img.segments[0].data)
    if len(d) < 144 or struct.unpack_from("<I", d, 0)[0] != APP_DESC_MAGIC:
        return None

    def text(off, n):
        return d[off:off + n].split(b"\0", 1)[0].decode("ascii", "replace")

    return {"version": text(16, 32), "project": text(48, 32), "time": text(80, 16),
            "date": text(96, 16), "idf": text(112, 32)}


def partitions(table: bytes) -> list[dict]:
    """Entries of an ESP-IDF partition table (32 bytes each, magic AA 50)."""
    out = []
    for off in range(0, min(len(table), 0xC00), 32):
        e = table[off:off + 32]
        if len(e) < 32 or e[:2] != b"\xaa\x50":
            break
        ptype, sub, poff, size = struct.unpack_from("<BBII", e, 2)
        out.append({"type": ptype, "subtype": sub, "offset": poff, "size": size,
                    "label": e[12:28].split(b"\0", 1)[0].decode("ascii", "replace")})
    return out


def inspect_firmware(data: bytes, chip: str) -> dict:
    """Check a MicroPython release image for `chip` ("esp32", "esp32s3", ...).

    Returns {"chip", "offset", "size", "version", "project", "idf", "app_offset", "sha256",
    "gatepass_frozen"} (the last: a gatepass image with the app frozen in, `make firmware`);
    raises FirmwareError saying what is wrong."""
    if chip not in FLASH_OFFSET:
        raise FirmwareError("chip %s is not supported by gatepass flash (known: %s)"
                            % (chip, ", ".join(sorted(FLASH_OFFSET))))
    base = FLASH_OFFSET[chip]
    what = "bootloader"
    img_chip = _chip_of(data, what)
    if img_chip != chip:
        raise FirmwareError("this image is for %s, the board is %s: download the MicroPython "
                            "build for the board's chip" % (img_chip, chip))
    boot = _load(chip, data, what)
    if app_description(boot) is not None:
        raise FirmwareError("this is an application-only image (it belongs at 0x10000): use the "
                            "full MicroPython .bin from micropython.org, which starts with the "
                            "bootloader")
    pt = data[PARTITION_TABLE - base:PARTITION_TABLE - base + 0xC00]
    parts = [p for p in partitions(pt) if p["type"] == 0]
    if not parts:
        raise FirmwareError("no partition table with an app partition at flash 0x%x: not a "
                            "complete MicroPython image" % PARTITION_TABLE)
    app = sorted(parts, key=lambda p: (p["subtype"] != 0, p["offset"]))[0]
    app_off = app["offset"] - base
    what = "app at 0x%x" % app["offset"]
    app_bytes = data[app_off:]
    app_chip = _chip_of(app_bytes, what)
    if app_chip != chip:
        raise FirmwareError("%s: built for %s, the board is %s" % (what, app_chip, chip))
    app_img = _load(chip, app_bytes, what)
    desc = app_description(app_img)
    if desc is None:
        raise FirmwareError("%s has no ESP-IDF app description: not a MicroPython build" % what)
    if not desc["project"].lower().startswith("micropython"):
        raise FirmwareError("%s is %r, not MicroPython" % (what, desc["project"]))
    return {"chip": chip, "offset": base, "size": len(data), "version": desc["version"],
            "project": desc["project"], "idf": desc["idf"], "app_offset": app["offset"],
            "sha256": hashlib.sha256(data).hexdigest(), "gatepass_frozen": is_gatepass_image(app_bytes)}


def is_gatepass_image(data: bytes) -> bool:
    """True for a gatepass image (`make firmware`: app/ and drivers/ frozen by
    firmware/manifest.py): the frozen module table names the marker module."""
    return FROZEN_MARKER in data


FROZEN_MARKER = b"gatepass_frozen.py"


class Flasher:
    """An esptool session with a board in its ROM bootloader (auto-reset via DTR/RTS, or
    hold BOOT while pressing EN). Use as a context manager."""

    def __init__(self, port: str, baud: int = 460800, connect_mode: str = "default-reset"):
        from esptool.cmds import detect_chip
        from esptool.util import FatalError

        from .link import port_url

        self.port = port_url(port)
        self.baud = baud
        try:
            self.esp = detect_chip(self.port, connect_mode=connect_mode)
        except (FatalError, OSError) as e:
            raise FirmwareError("cannot talk to the ESP32 bootloader on %s: %s\n(check the cable "
                                "and port; if it still fails hold BOOT, tap EN, release BOOT)"
                                % (port, e)) from None
        self.chip = chip_key(self.esp.CHIP_NAME)

    def write(self, data: bytes, offset: int, erase: bool = True) -> None:
        from esptool.cmds import attach_flash, erase_flash, reset_chip, run_stub, write_flash
        from esptool.util import FatalError

        try:
            self.esp = run_stub(self.esp)
            if self.baud and self.baud != self.esp.ESP_ROM_BAUD:
                self.esp.change_baud(self.baud)
            attach_flash(self.esp)
            if erase:
                erase_flash(self.esp)
            write_flash(self.esp, [(offset, data)], flash_mode="keep", flash_freq="keep",
                        flash_size="keep")
            reset_chip(self.esp, "hard-reset")
        except (FatalError, OSError) as e:
            raise FirmwareError("flashing failed: %s (the board is not usable until a flash "
                                "succeeds: run the command again)" % e) from None

    def close(self) -> None:
        try:
            self.esp._port.close()
        except Exception:  # noqa: BLE001 - port already gone
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_firmware(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise FirmwareError("cannot read %s: %s" % (path, e.strerror or e)) from None


def flash(port: str, data: bytes, chip: str | None = None, baud: int = 460800, erase: bool = True,
          say=lambda text: None) -> dict:
    """Write a MicroPython image onto the board on `port`: refuse another chip than `chip`
    (when given) and an image that is not MicroPython for the detected chip. Returns
    inspect_firmware()'s facts about what was written."""
    with Flasher(port, baud) as f:
        if chip and f.chip != chip:
            raise FirmwareError("the board is %s, not %s" % (f.chip, chip))
        info = inspect_firmware(data, f.chip)
        say("%s detected: writing MicroPython %s at 0x%x%s"
            % (f.chip, info["version"], info["offset"], "" if not erase else " after a full erase"))
        f.write(data, info["offset"], erase=erase)
    return info
