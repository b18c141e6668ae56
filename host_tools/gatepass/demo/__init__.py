"""The demo: `python -m gatepass.demo` (run.py) and its community-server part (server.py,
also `python -m gatepass.demo.server`)."""


def main(argv=None) -> int:
    from .run import main as _main

    return _main(argv)
