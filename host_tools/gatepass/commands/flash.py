"""`gatepass flash`: MicroPython onto an ESP32 (defined in commands/device.py)."""
from .device import flash_cmd as command

__all__ = ["command"]
