"""Frozen into gatepass firmware images only (firmware/manifest.py): when this imports,
app/ and drivers/ are in the image, and `gatepass deploy` copies none of them (a copy on
the filesystem would shadow the frozen module: '' comes first in sys.path)."""
FROZEN = True
