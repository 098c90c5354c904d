"""The relay's collector settings: the start-up heap frozen, the young threshold raised."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service.heap import THRESHOLDS, settle_heap


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_settling_freezes_what_start_up_made_and_raises_the_thresholds() -> None:
    kept = [[object()] for _ in range(100)]  # containers alive at start-up
    settle_heap()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == THRESHOLDS
    # frozen objects are in no generation: no collection walks them any more
    assert not any(obj is kept[0] for obj in gc.get_objects())
