# `micropython` as a board has it, for the REPL bridge: BOARD EMULATION ONLY (see
# bridge_board.py). Everything is the WebAssembly port's builtin module except
# alloc_emergency_exception_buf, which ESP32 ports have (boot.py calls it) and this port lacks.
_real = None


def __getattr__(name):
    return getattr(_real, name)


def alloc_emergency_exception_buf(size):
    pass
