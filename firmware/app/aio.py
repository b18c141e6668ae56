"""asyncio helpers shared by app/, the drivers and main.py."""
import asyncio


def sleep_ms(ms):
    """Awaitable sleep of `ms` milliseconds: asyncio.sleep_ms on MicroPython, sleep(s) on
    CPython (which has no sleep_ms); the simulators run CPython's loop on virtual time."""
    f = getattr(asyncio, "sleep_ms", None)
    if f is not None:
        return f(ms)
    return asyncio.sleep(ms / 1000)
