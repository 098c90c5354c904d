from aiokafka import TopicPartition

from service.kafka.offsets import OffsetTracker

TP = TopicPartition("in", 0)
TP2 = TopicPartition("in", 1)


def test_commit_never_passes_an_unfinished_offset() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12, 13):
        tracker.add(TP, offset)
    tracker.done(TP, 12)
    tracker.done(TP, 13)
    assert tracker.to_commit() == {}
    assert tracker.in_flight(TP) == 2
    tracker.done(TP, 10)
    assert tracker.to_commit() == {TP: 11}
    tracker.done(TP, 11)
    assert tracker.to_commit() == {TP: 14}
    assert tracker.in_flight(TP) == 0


def test_committed_positions_are_not_offered_again() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 0)
    tracker.done(TP, 0)
    tracker.mark_committed(tracker.to_commit())
    assert tracker.to_commit() == {}
    tracker.add(TP, 1)
    tracker.done(TP, 1)
    assert tracker.to_commit() == {TP: 2}


def test_partitions_are_independent_and_forget_drops_revoked_work() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 5)
    tracker.add(TP2, 7)
    tracker.done(TP2, 7)
    assert tracker.to_commit() == {TP2: 8}
    assert tracker.total_in_flight() == 1
    tracker.forget({TP})
    tracker.done(TP, 5)  # late completion of revoked work is ignored
    assert tracker.total_in_flight() == 0
    assert TP not in tracker.to_commit()


def test_done_twice_counts_once() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 1)
    tracker.add(TP, 2)
    tracker.done(TP, 2)
    tracker.done(TP, 2)
    assert tracker.in_flight(TP) == 1
