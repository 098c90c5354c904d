"""A random source for tests of the shared backoff."""

from __future__ import annotations

import random


class TopOfRange(random.Random):
    """Every jittered wait at its ceiling, so the growth of the backoff shows exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b
