"""MicroPython freeze manifest: gatepass frozen into the firmware image (boards without
PSRAM, docs/hardware.md). Frozen bytecode runs from flash: the imports keep ~36 KB of heap
instead of ~140 KB. Built by `make firmware BOARD=...` (MicroPython's ESP32 port with
ESP-IDF; FROZEN_MANIFEST points here). boot.py and main.py stay files on the filesystem
(deploy copies them), and so does otaboot.py, the OTA boot path (never updated over the air); everything under app/ and drivers/ is listed here, which
tests/firmware/test_manifest.py checks against the tree.
"""
# the port's own frozen modules (asyncio, ...)
include("$(PORT_DIR)/boards/manifest.py")

# the display driver (profiles with an SSD1306), from micropython-lib in the source tree
require("ssd1306")

# the marker deploy looks for: modules frozen, copy none of them
module("gatepass_frozen.py")

package("app", files=(
    "__init__.py", "aio.py", "alarms.py", "backoff.py", "base45.py", "board.py", "bundle.py", "cbor.py",
    "clock.py", "codes.py", "config.py", "cose.py", "eventlog.py", "flash.py", "fsutil.py", "gate.py", "health.py",
    "httpc.py", "lists.py", "p256.py", "p256n.py", "passes.py", "peers.py", "policy.py",
    "ota.py", "reasons.py", "record.py", "release.py", "remote.py", "roles.py", "settings.py", "thermo.py",
    "uplink.py", "uplinktask.py", "visits.py",
))

package("drivers", files=(
    "__init__.py", "devices.py", "door.py", "fire.py", "glyphs.py", "indicator.py", "mlx90614.py",
    "qrscanner.py", "relay.py", "voice.py", "wifi.py",
))
