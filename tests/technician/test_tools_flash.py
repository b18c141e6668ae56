"""`gatepass flash` refuses what would not boot: checked with esptool's own image parser
(LoadFirmwareImage, image_info) on release-shaped images built here with esptool's image
writer (bootloader + partition table + app with an ESP-IDF app description), no hardware."""
from __future__ import annotations

import socket
import struct

import pytest
from click.testing import CliRunner
from esptool.bin_image import (ELFSection, ESP32C3FirmwareImage, ESP32FirmwareImage,
                               ESP32S3FirmwareImage, LoadFirmwareImage)

from gatepass.technician import flashing
from gatepass.cli import cli

IMAGE_CLASSES = {"esp32": ESP32FirmwareImage, "esp32s3": ESP32S3FirmwareImage,
                 "esp32c3": ESP32C3FirmwareImage}
# (DRAM, IRAM, DROM) load addresses per chip, from the chips' memory maps
ADDRS = {"esp32": (0x3FFF0030, 0x40078000, 0x3F400020),
         "esp32s3": (0x3FCE3000, 0x403C8000, 0x3C020020),
         "esp32c3": (0x3FCD5000, 0x403CE000, 0x3C020020)}
APP_AT = 0x10000


def esp_image(chip: str, segments) -> bytes:
    """An ESP image written by esptool itself (header, extended header with the chip id,
    segments, checksum, appended SHA-256)."""
    img = IMAGE_CLASSES[chip]()
    img.append_digest = True
    img.entrypoint = segments[-1][1]
    img.flash_mode = 2  # DIO
    img.flash_size_freq = 0x20  # 4 MB, 40 MHz
    img.segments = [ELFSection(name.encode(), addr, data, 0) for name, addr, data in segments]
    return img.save(None)


def app_desc(project: str = "micropython", version: str = "v1.27.0", idf: str = "v5.2.2") -> bytes:
    """esp_app_desc_t (256 bytes): magic, secure_version, reserved, version, project_name,
    time, date, idf_ver, app_elf_sha256, reserved."""
    d = struct.pack("<IIII", flashing.APP_DESC_MAGIC, 0, 0, 0)
    d += version.encode().ljust(32, b"\0") + project.encode().ljust(32, b"\0")
    d += b"12:00:00".ljust(16, b"\0") + b"Dec  9 2025".ljust(16, b"\0") + idf.encode().ljust(32, b"\0")
    return d + bytes(32) + bytes(256 - len(d) - 32)


def partition_table(app_offset: int = APP_AT) -> bytes:
    def entry(ptype, sub, off, size, label):
        return b"\xaa\x50" + struct.pack("<BBII", ptype, sub, off, size) + label.ljust(16, b"\0") + bytes(4)

    t = (entry(1, 2, 0x9000, 0x6000, b"nvs") + entry(1, 1, 0xF000, 0x1000, b"phy_init")
         + entry(0, 0, app_offset, 0x1F0000, b"factory") + entry(1, 0x81, 0x200000, 0x200000, b"vfs"))
    return t + b"\xff" * (0xC00 - len(t))


def release_image(chip: str = "esp32", image_chip: str | None = None, project: str = "micropython",
                  with_table: bool = True, frozen: bytes = b"") -> bytes:
    """What micropython.org ships for `chip`: written at flashing.FLASH_OFFSET[chip].
    frozen: the frozen module names table of a custom build (make firmware)."""
    ic = image_chip or chip
    dram, iram, drom = ADDRS[ic]
    base = flashing.FLASH_OFFSET[chip]
    boot = esp_image(ic, [(".dram0.bss", dram, b"\x11" * 64), (".iram_loader.text", iram, b"\x22" * 256)])
    app = esp_image(ic, [(".flash.appdesc", drom, app_desc(project) + frozen + b"\x33" * 512),
                         (".iram0.text", iram, b"\x44" * 1024)])
    img = bytearray(boot.ljust(0x8000 - base, b"\xff"))
    img += partition_table() if with_table else b"\xff" * 0xC00
    img = img.ljust(APP_AT - base, b"\xff") + app
    return bytes(img)


@pytest.mark.parametrize("chip", ["esp32", "esp32s3", "esp32c3"])
def test_release_image_is_accepted_for_its_chip_at_its_offset(chip, capsys):
    data = release_image(chip)
    info = flashing.inspect_firmware(data, chip)
    # ESP32 ROM loads the bootloader from 0x1000, the newer chips from 0
    assert info["offset"] == (0x1000 if chip == "esp32" else 0)
    assert (info["version"], info["project"], info["app_offset"]) == ("v1.27.0", "micropython", APP_AT)
    # the images really are what esptool expects: its parser and image_info agree
    app = data[APP_AT - info["offset"]:]
    assert LoadFirmwareImage(chip, app).chip_id == LoadFirmwareImage(chip, data).chip_id
    from esptool.cmds import image_info

    capsys.readouterr()
    image_info(app, chip)
    out = capsys.readouterr().out
    assert "Project name: micropython" in out and "(valid)" in out


@pytest.mark.parametrize("board,image", [("esp32", "esp32s3"), ("esp32s3", "esp32"), ("esp32c3", "esp32s3")])
def test_image_for_another_chip_is_refused(board, image):
    data = release_image(image)
    with pytest.raises(flashing.FirmwareError) as e:
        flashing.inspect_firmware(data, board)
    assert image in str(e.value) and board in str(e.value)


def test_not_an_esp_image_is_refused():
    zip_file = b"PK\x03\x04" + bytes(4096)
    with pytest.raises(flashing.FirmwareError, match="0xE9"):
        flashing.inspect_firmware(zip_file, "esp32")
    with pytest.raises(flashing.FirmwareError):
        flashing.inspect_firmware(b"", "esp32")


def test_an_esp_app_that_is_not_micropython_is_refused():
    data = release_image("esp32", project="arduino-esp32")
    with pytest.raises(flashing.FirmwareError, match="not MicroPython"):
        flashing.inspect_firmware(data, "esp32")


def test_damaged_images_are_refused():
    good = release_image("esp32")
    base = flashing.FLASH_OFFSET["esp32"]
    for off in (0x40, APP_AT - base + 0x300):  # inside a bootloader segment, inside the app
        bad = bytearray(good)
        bad[off] ^= 0x5A
        with pytest.raises(flashing.FirmwareError, match="checksum|digest"):
            flashing.inspect_firmware(bytes(bad), "esp32")
    with pytest.raises(flashing.FirmwareError):
        flashing.inspect_firmware(good[:APP_AT - base + 200], "esp32")  # truncated in the app


def test_app_only_image_and_missing_partition_table_are_refused():
    app_only = release_image("esp32")[APP_AT - 0x1000:]
    with pytest.raises(flashing.FirmwareError, match="application-only"):
        flashing.inspect_firmware(app_only, "esp32")
    with pytest.raises(flashing.FirmwareError, match="partition table"):
        flashing.inspect_firmware(release_image("esp32", with_table=False), "esp32")


def test_cli_check_only(tmp_path):
    good = tmp_path / "ESP32_GENERIC-v1.27.0.bin"
    good.write_bytes(release_image("esp32"))
    r = CliRunner().invoke(cli, ["flash", "--firmware", str(good), "--chip", "esp32", "--check-only"])
    assert r.exit_code == 0, r.output
    assert "MicroPython v1.27.0" in r.output and "0x1000" in r.output
    r = CliRunner().invoke(cli, ["flash", "--firmware", str(good), "--chip", "esp32s3", "--check-only"])
    assert r.exit_code == 1
    assert "refused" in r.output and "esp32s3" in r.output
    r = CliRunner().invoke(cli, ["flash", "--firmware", str(good), "--check-only"])
    assert r.exit_code == 2


def test_gatepass_image_with_frozen_app_is_accepted_and_named(tmp_path):
    """`make firmware` builds MicroPython with firmware/manifest.py frozen in: still a
    MicroPython image for the chip (accepted), recognised by the frozen module table."""
    names = b"asyncio/core.py\0gatepass_frozen.py\0app/gate.py\0app/p256n.py\0drivers/relay.py\0"
    data = release_image("esp32", frozen=names)
    info = flashing.inspect_firmware(data, "esp32")
    assert info["gatepass_frozen"] is True and info["project"] == "micropython"
    assert flashing.inspect_firmware(release_image("esp32"), "esp32")["gatepass_frozen"] is False
    fw = tmp_path / "gatepass-ESP32_GENERIC-v1.27.0.bin"
    fw.write_bytes(data)
    r = CliRunner().invoke(cli, ["flash", "--firmware", str(fw), "--chip", "esp32", "--check-only"])
    assert r.exit_code == 0, r.output
    assert "the gatepass image" in r.output and "frozen" in r.output


def test_cli_flash_without_a_board_fails_cleanly(tmp_path):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(release_image("esp32"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    r = CliRunner().invoke(cli, ["flash", "--port", "socket://127.0.0.1:%d" % port, "--firmware", str(fw)])
    assert r.exit_code == 1
    assert "cannot talk to the ESP32 bootloader" in r.output
    assert "Traceback" not in r.output
