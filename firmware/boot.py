"""Runs first after every reset, before main.py. Nothing here may fail or block: the
safe-mode escape (a /safemode flag file or the profile's button), the relay and
everything else are main.py's job (see its docstring).

OTA (otaboot.py): the app set to run is chosen here and put first on sys.path; a trial
set also arms the watchdog, so a release whose main crashes on import (before main.py's
own watchdog) resets the board and is rolled back after otaboot.MAX_TRIAL_BOOTS boots."""
import gc

import micropython

# room to report an exception raised where the heap cannot allocate (an ISR, a full heap);
# the unix port (the whole-device simulator) has no such buffer
_aeb = getattr(micropython, "alloc_emergency_exception_buf", None)
if _aeb is not None:
    _aeb(128)
gc.collect()

try:
    import sys

    import otaboot

    _slot, _ota = otaboot.select("/")
    _path = otaboot.path_for("/", _slot)
    if _path:
        sys.path.insert(0, _path)
    if _ota.get("state") == "trial":
        import machine

        machine.WDT(timeout=30000)  # main.py's own watchdog (8 s) takes over once it runs
except Exception as _e:  # noqa: BLE001 - an OTA state problem never stops the boot
    print("gatepass: ota:", _e)
