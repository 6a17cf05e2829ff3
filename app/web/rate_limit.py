"""Per-token abuse limits, held by this process: a request rate and open WebSockets.

Both are per process: behind N processes a token gets N times the figures.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_MAX_BUCKETS = 10_000
_SWEEP_SECONDS = 60.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimit:
    """A token bucket per key: `burst` requests at once, refilled at `rate` per second.

    Memory stays bounded: full buckets are dropped (a full bucket is the same as none), and
    past `max_buckets` the least recently used one goes. A rate of 0 turns the limit off.
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_buckets: int = _MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._max_buckets = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._swept = clock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend `cost` of `key`'s allowance (one request, or n alerts): 0 when allowed, else
        seconds to wait until it would be. A refused take spends nothing."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        if now - self._swept >= _SWEEP_SECONDS:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(now - bucket.updated, 0.0)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        self._swept = now
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


def retry_after(wait: float) -> int:
    """Whole seconds for a Retry-After header: rounded up, at least 1."""
    return max(1, math.ceil(wait))


class ConnectionLimit:
    """Open connections per key, at most `per_key` each; 0 means no cap."""

    def __init__(self, *, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        count = self._open.get(key, 0)
        if self.per_key and count >= self.per_key:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def count(self, key: str) -> int:
        return self._open.get(key, 0)

    def total(self) -> int:
        return sum(self._open.values())
