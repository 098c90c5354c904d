"""Send slots by lane: critical first, normal and bulk by weight, shares measured on the
injected clock (every slot holder 'sends' for one stepped second)."""

from __future__ import annotations

import asyncio

import pytest

from service.clock import SteppedClock
from service.pipeline.lanes import LaneHooks, LaneWaits, SendSlots, Urgency
from service.priority import LaneOrder, Priority


class Grants:
    """Who got a slot, in order; a sender records its grant right before it sleeps (its
    one 'request'), so once `count` grants are in, those holders are asleep."""

    def __init__(self) -> None:
        self.lanes: list[str] = []
        self._changed = asyncio.Event()

    def add(self, lane: str) -> None:
        self.lanes.append(lane)
        self._changed.set()

    async def reach(self, count: int) -> None:
        while len(self.lanes) < count:
            self._changed.clear()
            await self._changed.wait()


async def test_a_freed_slot_goes_to_the_next_lane_in_order_not_the_first_asker() -> None:
    slots = SendSlots(1, LaneOrder(3, 1))
    await slots.acquire("bulk")
    order: list[str] = []

    async def waiter(lane: Priority) -> None:
        async with slots.slot(lane):
            order.append(lane)

    tasks = [asyncio.create_task(waiter(lane)) for lane in ("bulk", "normal", "critical")]
    await asyncio.sleep(0)
    assert (slots.waiting("bulk"), slots.waiting("normal"), slots.waiting("critical")) == (1, 1, 1)
    assert slots.free == 0
    slots.release()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert order == ["critical", "normal", "bulk"]
    assert slots.free == 1


async def test_normal_and_bulk_share_the_slots_by_weight_while_both_wait() -> None:
    clock = SteppedClock()
    slots = SendSlots(2, LaneOrder(3, 1))
    granted = Grants()

    async def sender(lane: Priority) -> None:
        while True:
            async with slots.slot(lane):
                granted.add(lane)
                await clock.sleep(1.0)  # one request in the air

    normal: Priority = "normal"
    bulk: Priority = "bulk"
    lanes = [normal] * 3 + [bulk] * 3
    workers = [asyncio.create_task(sender(lane)) for lane in lanes]
    async with asyncio.timeout(5):
        for step in range(21):
            await granted.reach(2 * (step + 1))  # both slots' holders asleep
            clock.advance(1.0)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    handed = granted.lanes[2:42]  # after the two free slots, every grant is the order's choice
    assert (handed.count("normal"), handed.count("bulk")) == (30, 10)
    for start in range(0, 40, 4):
        assert handed[start : start + 4].count("bulk") == 1  # bulk is never starved


async def test_a_critical_sender_gets_every_slot_it_asks_for_first() -> None:
    clock = SteppedClock()
    slots = SendSlots(1, LaneOrder(1, 1))
    granted = Grants()

    async def sender(lane: Priority, times: int) -> None:
        for _ in range(times):
            async with slots.slot(lane):
                granted.add(lane)
                await clock.sleep(1.0)

    bulk = [asyncio.create_task(sender("bulk", 10)) for _ in range(4)]
    async with asyncio.timeout(5):
        await granted.reach(1)
        otp = asyncio.create_task(sender("critical", 3))
        await asyncio.sleep(0)  # it asks for a slot, behind the 3 waiting bulk senders
        assert slots.waiting("critical") == 1
        for step in range(6):
            clock.advance(1.0)
            await granted.reach(step + 2)
        await otp
    for task in bulk:
        task.cancel()
    await asyncio.gather(*bulk, return_exceptions=True)
    # Behind 4 bulk senders, each critical request took the very next slot freed; the
    # slot it gives back goes to a waiting bulk one (its next request asks anew).
    assert granted.lanes[1:6] == ["critical", "bulk", "critical", "bulk", "critical"]


async def test_cancelled_waiters_leave_the_line_and_pass_on_a_slot_handed_to_them() -> None:
    slots = SendSlots(1)
    await slots.acquire("normal")
    gone = asyncio.create_task(slots.acquire("normal"))
    kept = asyncio.create_task(slots.acquire("bulk"))
    await asyncio.sleep(0)
    slots.release()  # handed to `gone` ...
    gone.cancel()  # ... which is cancelled before it runs: the slot moves on
    with pytest.raises(asyncio.CancelledError):
        await gone
    async with asyncio.timeout(5):
        await kept
    assert slots.free == 0
    slots.release()
    assert slots.free == 1
    waiting = asyncio.create_task(slots.acquire("normal"))
    await slots.acquire("normal")  # free: taken at once
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert slots.waiting("normal") == 0


async def test_lane_waits_count_a_batch_until_its_request_and_time_its_first_one() -> None:
    clock = SteppedClock()
    waiting: list[tuple[str, int]] = []
    waited: list[tuple[str, float]] = []
    hooks = LaneHooks(
        on_waiting=lambda lane, delta: waiting.append((lane, delta)),
        on_first_request=lambda lane, seconds: waited.append((lane, seconds)),
    )
    waits = LaneWaits("critical", hooks, clock)
    waits.begin()
    clock.advance(0.25)
    waits.requested()
    waits.end()
    waits.begin()  # a retry: waits again, but its wait is not a first one
    waits.requested()
    waits.end()
    waits.begin()  # a turn that ended without a request (a busy peer)
    waits.end()
    assert waiting == [("critical", 1), ("critical", -1)] * 3
    assert waited == [("critical", 0.25)]


def test_urgency_passes_at_its_expiry() -> None:
    assert not Urgency().passed(1e12)
    assert not Urgency("critical", 100.0).passed(99.9)
    assert Urgency("critical", 100.0).passed(100.0)
