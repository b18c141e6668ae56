"""Runs first after every reset, before main.py. Nothing here may fail or block: the
safe-mode escape (a /safemode flag file or the profile's button), the relay and
everything else are main.py's job (see its docstring)."""
import gc

import micropython

# room to report an exception raised where the heap cannot allocate (an ISR, a full heap)
micropython.alloc_emergency_exception_buf(128)
gc.collect()
