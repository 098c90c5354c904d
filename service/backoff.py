"""Capped exponential backoff with full jitter: the one retry schedule of the relay.

Every component that waits before trying again (the Push.R client, the deliverer, the
consumer loop, the status poller) asks a `Backoff`, so they all wait alike. Retries are
numbered from 0: the wait before the first retry is at most `base`.

Full jitter (`uniform(0, min(cap, base * 2**n))`) spreads retries of many callers that
failed together, so they do not come back together. The random source is injected, so a
test can pin it; the waiting itself is the caller's, on its injected Clock.

`Retry-After` wins when it is longer: `max(retry_after, jittered)`. The provider said
"not before then", so an earlier retry is a wasted request that may cost more 429s; and a
short or zero hint must not undo our own exponential growth. Replicas receiving the same
hint are spread by the (shared) rate limit, which every attempt passes before it is sent.
The hint is capped (`retry_after_cap`) before it arrives here.

`floor` is the caller's own "not before": a wait that is pointless when shorter (asking
again about a peer's live claim sooner than a tenth of its lease only adds load).
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
        return min(self._cap, self._base * 2.0 ** min(max(retry, 0), 64))

    def delay(self, retry: int, retry_after: float | None = None, *, floor: float = 0.0) -> float:
        """Seconds to wait before retry number `retry`: jittered, never below
        `retry_after` (the provider's hint) or `floor` (the caller's own minimum)."""
        jittered = self._rng.uniform(0.0, self.ceiling(retry))
        return max(jittered, floor, retry_after or 0.0)
