"""A small fixed-window throttle for the public phone pages (self-declaration, one-time
codes, visitor invitations), counted in the database (models.RateCount) so that every
server worker shares the count.

    if not throttle.allow("declare", addr, limit=5, window_s=3600): -> 429

Fixed windows let a client make up to 2 x limit requests around a window boundary; that
is fine for what these limits are for (a person may retry a few times; a script may not
fill the staff queue or try codes).
"""
from __future__ import annotations

import random
import time

from django.db import IntegrityError, transaction
from django.db.models import F

PURGE_EVERY = 200  # about one request in this many deletes old windows


def allow(scope: str, key: str, limit: int, window_s: int, now: float | None = None) -> bool:
    """Count one request of `scope` by `key`; False when the window already had `limit`."""
    from .models import RateCount

    now = time.time() if now is None else now
    window = int(now) // window_s * window_s
    key = key[:80]
    if random.randrange(PURGE_EVERY) == 0:
        # windows of every scope end within a day: older rows count for nothing
        RateCount.objects.filter(window__lt=int(now) - 2 * 86400).delete()
    n = RateCount.objects.filter(scope=scope, key=key, window=window).update(count=F("count") + 1)
    if not n:
        try:
            with transaction.atomic():
                RateCount.objects.create(scope=scope, key=key, window=window, count=1)
            return limit >= 1
        except IntegrityError:  # another worker made the row first
            RateCount.objects.filter(scope=scope, key=key, window=window).update(count=F("count") + 1)
    count = RateCount.objects.filter(scope=scope, key=key, window=window).values_list("count", flat=True).first()
    return (count or 0) <= limit


def used(scope: str, key: str, window_s: int, now: float | None = None) -> int:
    """Requests of `scope` by `key` counted in the current window."""
    from .models import RateCount

    now = time.time() if now is None else now
    window = int(now) // window_s * window_s
    return RateCount.objects.filter(scope=scope, key=key[:80], window=window).values_list(
        "count", flat=True).first() or 0
