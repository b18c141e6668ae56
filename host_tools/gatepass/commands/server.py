"""`gatepass server ...`: the community server."""
from gatepass.server.cli import server_group as command  # noqa: F401
