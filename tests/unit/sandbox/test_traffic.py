from service.devkit.sandbox.traffic import DuplicateSend, Traffic


def test_counts_sends_and_finds_duplicates() -> None:
    t = Traffic()
    t.count_send("hello", "233558544343")
    t.count_send("hello", "233548769324")
    t.count_send("other", "233558544343")
    assert t.duplicate_sends() == []
    t.count_send("hello", "233558544343")
    t.count_send("hello", "233558544343")
    assert t.duplicate_sends() == [DuplicateSend("hello", "233558544343", 3)]
    assert t.sends_for("233558544343") == 4
    assert t.sends_for("+233558544343", "hello") == 3
    assert t.sends_for("233548769324", "other") == 0
    assert t.sends_for("not a number") == 0
    assert t.accepted_sends == 5
    assert t.per_recipient_counts() == {"233558544343": 4, "233548769324": 1}


def test_request_ring_is_bounded_and_counters_are_not() -> None:
    t = Traffic(ring_size=5)
    for i in range(12):
        t.record(
            float(i), "POST", "send-sms", 201, "accepted", message_ids=(i,), recipients_count=1
        )
    t.record(12.0, "POST", "send-sms", 503, "fault", "503")
    t.record(13.0, "POST", "send-sms", None, "accepted", "reset", 1, (99,), 1)
    assert len(t.requests()) == 5
    assert [r.seq for r in t.requests()] == [10, 11, 12, 13, 14]
    assert [r.message_ids for r in t.accepted_requests()] == [(9,), (10,), (11,), (99,)]
    summary = t.summary(recent=2)
    assert summary["requests"] == 14
    assert summary["by_endpoint"] == {
        "send-sms": {"accepted": 12, "fault:503": 1, "accepted:reset": 1}
    }
    assert [r["seq"] for r in summary["recent"]] == [13, 14]


def test_reset() -> None:
    t = Traffic()
    t.count_send("a", "233558544343")
    t.count_send("a", "233558544343")
    t.record(0.0, "GET", "list", 200, "ok")
    t.reset()
    assert t.summary() == {
        "requests": 0,
        "by_endpoint": {},
        "accepted_sends": 0,
        "distinct_sends": 0,
        "recipients": 0,
        "duplicates": [],
    }
