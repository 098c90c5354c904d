"""Capped exponential backoff with full jitter, and how `Retry-After` bends it.

Full jitter (`uniform(0, min(cap, base * 2**n))`) spreads retries of many callers that
failed together, so they do not come back together.

`Retry-After` wins when it is longer: `max(retry_after, jittered)`. The provider said
"not before then", so an earlier retry is a wasted request that may cost more 429s; and a
short or zero hint must not undo our own exponential growth. Replicas receiving the same
hint are spread by the (shared) rate limit, which every attempt passes before it is sent.
The hint is capped (`retry_after_cap`) before it arrives here.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self._base = base
        self._cap = cap
        self._rng = rng

    def ceiling(self, retry: int) -> float:
        """The longest jittered wait before retry number `retry` (0 for the first)."""
        # min() before the power would still overflow for huge `retry`; clamp the exponent.
        return min(self._cap, self._base * 2.0 ** min(retry, 64))

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        jittered = self._rng.uniform(0.0, self.ceiling(retry))
        if retry_after is None:
            return jittered
        return max(retry_after, jittered)
