"""`gatepass deploy`: firmware onto a board (defined in commands/device.py)."""
from .device import deploy_cmd as command

__all__ = ["command"]
