"""The one priority order: critical strictly first, normal and bulk by weight."""

from __future__ import annotations

import pytest

from service.priority import PRIORITIES, LaneOrder, LaneQueue


def picks(order: LaneOrder, waiting: set[str], count: int) -> list[str]:
    return [str(order.pick(waiting)) for _ in range(count)]  # type: ignore[arg-type]


def test_critical_goes_whenever_it_waits() -> None:
    order = LaneOrder(3, 1)
    assert picks(order, {"critical", "normal", "bulk"}, 5) == ["critical"] * 5
    assert order.pick(set()) is None


@pytest.mark.parametrize(("normal", "bulk"), [(3, 1), (1, 1), (5, 2), (1, 4)])
def test_normal_and_bulk_get_their_weights_share_in_every_round(normal: int, bulk: int) -> None:
    order = LaneOrder(normal, bulk)
    round_ = normal + bulk
    got = picks(order, {"normal", "bulk"}, 10 * round_)
    for start in range(0, len(got), round_):
        chunk = got[start : start + round_]
        assert (chunk.count("normal"), chunk.count("bulk")) == (normal, bulk)


def test_turns_are_interleaved_not_in_blocks() -> None:
    assert (
        picks(LaneOrder(3, 1), {"normal", "bulk"}, 8)
        == [
            "normal",
            "normal",
            "bulk",
            "normal",
        ]
        * 2
    )


def test_an_idle_lane_saves_up_no_turns() -> None:
    order = LaneOrder(1, 1)
    assert picks(order, {"normal"}, 10) == ["normal"] * 10
    # bulk was idle meanwhile: contention resumes at the plain 1:1 share
    got = picks(order, {"normal", "bulk"}, 6)
    assert got.count("bulk") == 3


def test_weights_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LaneOrder(0, 1)


def test_queue_is_first_come_first_served_within_a_lane() -> None:
    queue: LaneQueue[str] = LaneQueue(LaneOrder(1, 1))
    for item in ("b1", "b2"):
        queue.push("bulk", item)
    for item in ("n1", "n2"):
        queue.push("normal", item)
    queue.push("critical", "c1")
    assert queue.length("bulk") == 2
    assert len(queue) == 5
    assert queue.remove("bulk", "b2")
    assert not queue.remove("bulk", "absent")
    assert [item for _lane, item in queue.drain()] == ["c1", "n1", "b1", "n2"]
    assert not queue
    assert queue.pop() is None


def test_the_lanes_are_named_once() -> None:
    assert PRIORITIES == ("critical", "normal", "bulk")
