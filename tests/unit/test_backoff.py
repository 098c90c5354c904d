"""The one retry schedule: capped exponential growth, full jitter, and the floors a caller
or the provider can put under it."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from service.backoff import Backoff
from tests.unit.jitter import TopOfRange


@given(retry=st.integers(0, 200), seed=st.integers(0, 2**32))
def test_full_jitter_within_capped_ceiling(retry: int, seed: int) -> None:
    backoff = Backoff(0.2, 20.0, random.Random(seed))
    ceiling = min(20.0, 0.2 * 2 ** min(retry, 64))
    assert backoff.ceiling(retry) == ceiling
    assert 0.0 <= backoff.delay(retry) <= ceiling


def test_ceiling_grows_then_caps() -> None:
    backoff = Backoff(0.2, 20.0, random.Random(1))
    assert [backoff.ceiling(n) for n in range(8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 20.0]


def test_jitter_spreads() -> None:
    backoff = Backoff(1.0, 100.0, random.Random(7))
    delays = [backoff.delay(5) for _ in range(200)]
    assert min(delays) < 8
    assert max(delays) > 24


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff(0.2, 20.0, random.Random(3))
    assert backoff.delay(0, retry_after=5.0) == 5.0  # jitter <= 0.2 < 5
    assert backoff.delay(0, retry_after=0.0) <= 0.2
    big = Backoff(10.0, 20.0, random.Random(3))
    assert all(big.delay(3, retry_after=1.0) >= 1.0 for _ in range(50))


def test_a_floor_is_the_callers_minimum_and_bounds_nothing_else() -> None:
    backoff = Backoff(0.2, 20.0, random.Random(5))
    assert backoff.delay(0, floor=3.0) == 3.0  # jitter <= 0.2 < 3
    assert all(3.0 <= backoff.delay(10, floor=3.0) <= 20.0 for _ in range(50))
    # the longer of the provider's hint and the caller's floor wins
    assert backoff.delay(0, retry_after=5.0, floor=3.0) == 5.0
    assert backoff.delay(0, retry_after=1.0, floor=3.0) == 3.0


def test_retries_count_from_zero_and_a_negative_count_is_the_first() -> None:
    backoff = Backoff(0.5, 30.0, TopOfRange())
    assert [backoff.delay(n) for n in (-1, 0, 1, 2, 6, 7, 1000)] == [
        0.5, 0.5, 1.0, 2.0, 30.0, 30.0, 30.0
    ]  # fmt: skip
