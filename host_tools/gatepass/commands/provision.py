"""`gatepass provision`: the device config (defined in commands/device.py)."""
from .device import provision_cmd as command

__all__ = ["command"]
