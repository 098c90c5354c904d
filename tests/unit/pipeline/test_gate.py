import asyncio

from service.clock import ManualClock
from service.pipeline.gate import SendGate


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
