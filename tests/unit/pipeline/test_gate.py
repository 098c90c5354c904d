import asyncio

from service.clock import ManualClock, SteppedClock
from service.pipeline.gate import SendGate
from service.priority import Priority


async def test_open_gate_lets_everyone_through_without_probing() -> None:
    gate = SendGate(ManualClock(), recheck_seconds=10)
    assert await gate.pass_through() is False


async def test_closed_gate_elects_one_probe_and_holds_the_rest() -> None:
    clock = ManualClock()
    changes: list[tuple[str, bool]] = []
    gate = SendGate(clock, recheck_seconds=10, on_change=lambda r, c: changes.append((r, c)))
    gate.close("insufficient_balance")

    waiters = [asyncio.create_task(gate.pass_through()) for _ in range(5)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    done = [w for w in waiters if w.done()]
    assert len(done) == 1
    assert done[0].result() is True
    assert clock.slept == [10]

    gate.report(True, close="insufficient_balance")  # probe failed: still closed
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sum(w.done() for w in waiters) == 2  # the next probe, after another recheck

    gate.report(True, answered=True)  # probe succeeded: everyone goes
    results = await asyncio.gather(*waiters)
    assert results.count(True) == 2
    assert gate.closed_reasons == frozenset()
    assert changes == [("insufficient_balance", True), ("insufficient_balance", False)]


async def test_an_undecided_probe_keeps_the_gate_closed() -> None:
    gate = SendGate(ManualClock(), recheck_seconds=1)
    gate.close("credentials_rejected")
    assert await gate.pass_through() is True
    gate.report(True)  # e.g. a 503: says nothing about credentials
    assert gate.closed_reasons == {"credentials_rejected"}


# --- lanes ------------------------------------------------------------------------------------


async def test_when_the_gate_opens_waiters_go_in_lane_order_critical_first() -> None:
    clock = SteppedClock()
    gate = SendGate(clock, recheck_seconds=10)
    gate.close("insufficient_balance")
    order: list[str] = []
    probe_task = asyncio.create_task(gate.pass_through("bulk"))
    await clock.asleep(10)  # the first caller is the probe, waiting for its time

    async def waiter(lane: Priority) -> None:
        assert await gate.pass_through(lane) is False
        order.append(lane)

    lanes: list[Priority] = ["bulk", "bulk", "normal", "critical"]
    tasks = [asyncio.create_task(waiter(lane)) for lane in lanes]
    await asyncio.sleep(0)
    assert gate.waiting("critical") == 1
    clock.advance(10)
    assert await probe_task is True
    gate.report(True, answered=True)  # the balance is back
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert order == ["critical", "normal", "bulk", "bulk"]


async def test_after_a_failed_probe_the_most_urgent_waiter_probes_next() -> None:
    clock = SteppedClock()
    gate = SendGate(clock, recheck_seconds=10)
    gate.close("insufficient_balance")
    first = asyncio.create_task(gate.pass_through("bulk"))
    await clock.asleep(10)
    bulk = asyncio.create_task(gate.pass_through("bulk"))
    otp = asyncio.create_task(gate.pass_through("critical"))
    await asyncio.sleep(0)
    clock.advance(10)
    assert await first is True
    gate.report(True, close="insufficient_balance")  # still no balance
    async with asyncio.timeout(5):
        await clock.asleep(10)  # the next probe's wait has begun: it is the critical one
        clock.advance(10)
        assert await otp is True
    assert not bulk.done()
    gate.report(True, answered=True)
    assert await bulk is False


async def test_a_probe_that_sent_nothing_lets_the_next_one_go_at_once() -> None:
    clock = ManualClock()
    gate = SendGate(clock, recheck_seconds=10)
    gate.close("insufficient_balance")
    assert await gate.pass_through() is True
    gate.report(True, attempted=False)  # e.g. its batch had expired meanwhile
    assert await gate.pass_through() is True
    assert clock.slept == [10]  # one recheck interval, not two


async def test_a_hold_keeps_its_endpoint_waiting_and_releases_it_in_lane_order() -> None:
    clock = SteppedClock()
    gate = SendGate(clock, recheck_seconds=10)
    gate.hold("send-sms", 5.0)
    assert await gate.pass_through("bulk", "custom") is False  # another endpoint: no wait
    order: list[str] = []

    async def waiter(lane: Priority) -> None:
        assert await gate.pass_through(lane, "send-sms") is False
        order.append(lane)

    tasks = [asyncio.create_task(waiter(lane)) for lane in ("bulk", "normal", "critical")]
    async with asyncio.timeout(5):
        await clock.asleep(5.0)  # one of them sleeps the hold out for all
        await asyncio.sleep(0)
        assert order == []
        clock.advance(5.0)
        await asyncio.gather(*tasks)
    # the first caller slept the hold out for all and goes as it wakes; then lane order
    assert order == ["bulk", "critical", "normal"]


async def test_a_waiter_whose_batch_expires_stops_waiting_at_its_expiry() -> None:
    clock = SteppedClock()
    gate = SendGate(clock, recheck_seconds=60)
    gate.close("insufficient_balance")
    probe = asyncio.create_task(gate.pass_through("bulk"))
    await clock.asleep(60)
    otp = asyncio.create_task(gate.pass_through("critical", expires_at=clock.now() + 30))
    async with asyncio.timeout(5):
        await clock.asleep(30)
        clock.advance(30)
        assert await otp is False  # out of the gate, still closed: the caller finds it expired
    assert gate.waiting("critical") == 0
    assert gate.closed_reasons == {"insufficient_balance"}
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)
