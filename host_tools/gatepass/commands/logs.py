"""`gatepass logs pull`: the event log over USB (defined in commands/device.py)."""
from .device import logs_group as command

__all__ = ["command"]
