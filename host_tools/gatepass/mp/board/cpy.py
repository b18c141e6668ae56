# What the shared bus models (gatepass/sim/*.py) use from CPython's library that
# MicroPython lacks, put into sys.modules before they load. Nothing here is firmware.
import sys


class _Subscriptable:
    def __getitem__(self, k):
        return self

    def __call__(self, *a):
        return self


class _Module:
    pass


def _random_module():
    import math
    import random as _r

    class Random:
        """random.Random(seed) on MicroPython's one generator (seeded per instance use)."""

        def __init__(self, seed=None):
            if seed is not None:
                _r.seed(seed)

        def randrange(self, *a):
            return _r.randrange(*a)

        def randint(self, a, b):
            return _r.randint(a, b)

        def random(self):
            return _r.random()

        def gauss(self, mu, sigma):
            u1 = _r.random() or 1e-12
            return mu + sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * _r.random())

    m = _Module()
    for name in ("getrandbits", "randrange", "randint", "random", "choice", "uniform", "seed"):
        if hasattr(_r, name):
            setattr(m, name, getattr(_r, name))
    m.Random = Random
    return m


def install():
    fut = _Module()
    fut.annotations = True
    sys.modules["__future__"] = fut
    typ = _Module()
    typ.Callable = _Subscriptable()
    typ.TYPE_CHECKING = False
    sys.modules["typing"] = typ
    sys.modules["random"] = _random_module()
