"""MicroPython on the host: compatibility shims (compat), the real runtime under node
(runtime), and the one loader of firmware modules (fw)."""
