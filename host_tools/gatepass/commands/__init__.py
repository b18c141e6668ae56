"""Command families of the `gatepass` CLI: one module per family, each exposing `command`."""
