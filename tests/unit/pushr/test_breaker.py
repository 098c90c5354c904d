from __future__ import annotations

from service.clock import ManualClock
from service.pushr.breaker import BreakerSet, CircuitBreaker, State, Verdict

F, S, N = Verdict.FAILURE, Verdict.SUCCESS, Verdict.NEUTRAL


def state(breaker: CircuitBreaker) -> State:
    # A call, not the attribute: mypy would narrow `breaker.state` after the first assert
    # and call the next state after a transition impossible.
    return breaker.state


def make(clock: ManualClock, changes: list[tuple[str, str]] | None = None) -> CircuitBreaker:
    return CircuitBreaker(
        "send-sms",
        clock=clock,
        consecutive_failures=3,
        failure_rate=0.5,
        window=10,
        open_seconds=5.0,
        on_state_change=(lambda e, s: changes.append((e, s))) if changes is not None else None,
    )


def run(breaker: CircuitBreaker, verdicts: list[Verdict]) -> None:
    for verdict in verdicts:
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.record(permit, verdict)


def test_opens_on_consecutive_failures() -> None:
    clock = ManualClock()
    breaker = make(clock)
    run(breaker, [F, F, S, F, F])  # a success resets the streak
    assert state(breaker) is State.CLOSED
    run(breaker, [F])
    assert state(breaker) is State.OPEN
    assert breaker.try_acquire() is None
    assert breaker.open_remaining() == 5.0


def test_opens_on_failure_rate_over_full_window() -> None:
    clock = ManualClock()
    breaker = make(clock)
    run(breaker, [F, S, F, S, F, S, F, S, F])  # 5/9: window not full yet
    assert state(breaker) is State.CLOSED
    run(breaker, [S])  # 5/10 = 0.5 >= 0.5
    assert state(breaker) is State.OPEN


def test_neutral_counts_for_nothing() -> None:
    clock = ManualClock()
    breaker = make(clock)
    run(breaker, [F, F, N, N, N, N, N, N, N, N, N])
    assert state(breaker) is State.CLOSED
    run(breaker, [F])  # the streak survived the 429s
    assert state(breaker) is State.OPEN


def test_half_open_single_probe_then_close() -> None:
    clock = ManualClock()
    changes: list[tuple[str, str]] = []
    breaker = make(clock, changes)
    run(breaker, [F, F, F])
    clock.advance(4.9)
    assert breaker.try_acquire() is None
    clock.advance(0.1)
    probe = breaker.try_acquire()
    assert probe is not None
    assert probe.probe
    # every concurrent caller is refused while the probe is out: no storm
    assert [breaker.try_acquire() for _ in range(100)] == [None] * 100
    breaker.record(probe, S)
    assert state(breaker) is State.CLOSED
    assert changes == [("send-sms", "open"), ("send-sms", "half_open"), ("send-sms", "closed")]
    run(breaker, [F, F])  # counters were reset on close
    assert state(breaker) is State.CLOSED


def test_failed_probe_reopens_with_fresh_timer() -> None:
    clock = ManualClock()
    breaker = make(clock)
    run(breaker, [F, F, F])
    clock.advance(5)
    probe = breaker.try_acquire()
    assert probe is not None
    clock.advance(1)
    breaker.record(probe, F)
    assert state(breaker) is State.OPEN
    assert breaker.open_remaining() == 5.0


def test_neutral_probe_frees_the_slot() -> None:
    clock = ManualClock()
    breaker = make(clock)
    run(breaker, [F, F, F])
    clock.advance(5)
    probe = breaker.try_acquire()
    assert probe is not None
    breaker.record(probe, N)  # cancelled or 429: still half-open, next caller probes
    assert state(breaker) is State.HALF_OPEN
    assert breaker.try_acquire() is not None


def test_late_answers_from_before_opening_are_ignored() -> None:
    clock = ManualClock()
    breaker = make(clock)
    old = [breaker.try_acquire() for _ in range(5)]
    for permit in old[:3]:
        assert permit is not None
        breaker.record(permit, F)
    assert state(breaker) is State.OPEN
    clock.advance(5)
    probe = breaker.try_acquire()
    assert probe is not None
    assert old[3] is not None
    assert old[4] is not None
    breaker.record(old[3], S)  # must not close it: the probe decides
    assert state(breaker) is State.HALF_OPEN
    breaker.record(probe, S)
    breaker.record(old[4], F)  # must not count in the fresh window
    run(breaker, [F, F])
    assert state(breaker) is State.CLOSED


def test_breaker_set_one_per_endpoint() -> None:
    clock = ManualClock()
    breakers = BreakerSet(
        clock=clock, consecutive_failures=1, failure_rate=1.0, window=5, open_seconds=1.0
    )
    run(breakers["send-sms"], [F])
    assert breakers["send-sms"] is breakers["send-sms"]
    assert breakers.states() == {"send-sms": "open"}
    assert breakers["list"].state is State.CLOSED
