"""gatepass host tools: pass issuing, technician CLI, simulator and community server."""
from pathlib import Path

__version__ = "0.1.0"


def repo_root() -> Path:
    """The source checkout holding firmware/ and boards/ (host tools run from it)."""
    return Path(__file__).resolve().parents[2]


def firmware_dir() -> Path:
    return repo_root() / "firmware"
