"""Firmware modules the server shares with the device (no Django here).

record: the 32-byte event record (firmware/app/record.py); reasons: reason codes;
settings: device settings validation. Imported through gatepass.mpcompat so the
server decodes uploads with the device's own code.
"""
from gatepass import mpcompat

mpcompat.install()
mpcompat.add_firmware_path()

from app import reasons, record, roles, settings  # noqa: E402

__all__ = ["reasons", "record", "roles", "settings"]
