"""The relay's collector settings: the start-up heap frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service.heap import settle_heap


@pytest.fixture
def collector() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("collector")
def test_settling_freezes_what_start_up_made() -> None:
    kept = [[object()] for _ in range(100)]  # containers alive at start-up
    settle_heap()
    assert gc.get_freeze_count() >= len(kept)
    # frozen objects are in no generation: no collection walks them any more
    assert not any(obj is kept[0] for obj in gc.get_objects())
