"""Exponential backoff with jitter, the one implementation (uplink retries, Wi-Fi
reconnects): after n failures the wait is drawn from [d/2, d], d = min(max_ms,
min_ms * 2**(n-1))."""


def ceiling(min_ms, max_ms, n):
    """Upper bound of the wait after n failures (ms)."""
    d = min_ms
    i = 1
    while i < n and d < max_ms:
        d *= 2
        i += 1
    return d if d < max_ms else max_ms


def jittered(min_ms, max_ms, n, rand):
    """The wait after n failures, drawn from [d/2, d] with rand(k) -> 0..k-1 (ms)."""
    d = ceiling(min_ms, max_ms, n)
    half = d // 2
    return d - half + rand(half + 1)


def default_rand(n):
    """Default jitter source: 0..n-1 from random.getrandbits."""
    import random

    if n <= 1:
        return 0
    return random.getrandbits(30) % n


class Backoff:
    """Failure counter with the backoff above; reset() after a success.

    rand(n) -> int in 0..n-1 (injected; default random.getrandbits)."""

    def __init__(self, min_ms=1000, max_ms=300000, rand=None):
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.rand = rand if rand is not None else default_rand
        self.n = 0

    def reset(self):
        self.n = 0

    def ceiling(self):
        """Upper bound of the next wait (ms)."""
        return ceiling(self.min_ms, self.max_ms, self.n)

    def next(self):
        """Count one failure; the wait before the next attempt (ms)."""
        self.n += 1
        return jittered(self.min_ms, self.max_ms, self.n, self.rand)
