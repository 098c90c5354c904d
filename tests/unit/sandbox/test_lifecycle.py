import random
from collections import Counter

import pytest

from service.devkit.sandbox.lifecycle import LifecycleConfig, Message, MessageStore


def message(
    message_id: int,
    lifecycle: LifecycleConfig,
    due: float = 100.0,
    outcome: str = "delivered",
    business: int = 1,
) -> Message:
    return Message(
        message_id=message_id,
        business=business,
        text="hi",
        sender_id="PYWE",
        recipients_count=1,
        cost="0.03",
        created=100.0,
        created_text="2023-11-14T22:13:20Z",
        due=due,
        lifecycle=lifecycle,
        outcome=outcome,
    )


def test_status_moves_with_time() -> None:
    m = message(1, LifecycleConfig(sent_after_s=1, final_after_s=3), outcome="failed")
    assert [m.status(t) for t in (100, 100.99, 101, 102.99, 103, 1e12)] == [
        "pending",
        "pending",
        "sent",
        "sent",
        "failed",
        "failed",
    ]


def test_scheduled_message_is_pending_until_due() -> None:
    m = message(1, LifecycleConfig(sent_after_s=0, final_after_s=1), due=500.0)
    assert m.status(100) == "pending"
    assert m.status(499.9) == "pending"
    assert m.status(500) == "sent"
    assert m.status(501) == "delivered"


def test_default_lifecycle_answers_sent_at_once_as_documented() -> None:
    assert message(1, LifecycleConfig()).status(100.0) == "sent"


def test_listed_item_shape() -> None:
    assert message(7, LifecycleConfig()).listed(1e12) == {
        "id": 7,
        "message": "hi",
        "status": "delivered",
        "created": "2023-11-14T22:13:20Z",
        "cost": "0.03",
        "sender_id": "PYWE",
        "recipients_count": 1,
    }


def test_outcome_mix_follows_weights() -> None:
    lc = LifecycleConfig(outcomes={"delivered": 0.5, "failed": 0.25, "partial_failed": 0.25})
    rng = random.Random(5)
    seen = Counter(lc.draw(rng, ["233200000001", "233200000002"]) for _ in range(8000))
    assert abs(seen["delivered"] / 8000 - 0.5) < 0.03
    assert abs(seen["failed"] / 8000 - 0.25) < 0.03


def test_one_recipient_cannot_partially_fail() -> None:
    lc = LifecycleConfig(outcomes={"partial_failed": 1.0})
    assert lc.draw(random.Random(1), ["233200000001"]) == "failed"
    assert lc.draw(random.Random(1), ["233200000001", "233200000002"]) == "partial_failed"


def test_fail_recipients() -> None:
    lc = LifecycleConfig(outcomes={"delivered": 1.0}, fail_recipients=frozenset({"233200000009"}))
    rng = random.Random(1)
    assert lc.draw(rng, ["233200000009"]) == "failed"
    assert lc.draw(rng, ["233200000009", "233200000001"]) == "partial_failed"
    assert lc.draw(rng, ["233200000001"]) == "delivered"


@pytest.mark.parametrize(
    "raw",
    [
        {"sent_after_s": 2, "final_after_s": 1},
        {"outcomes": {"lost": 1}},
        {"outcomes": {"delivered": 0}},
        {"sent_after": 1},
    ],
)
def test_bad_lifecycle_configs(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        LifecycleConfig.from_dict(raw)


def test_store_pages_newest_first_per_business() -> None:
    store = MessageStore()
    lc = LifecycleConfig()
    for i in range(1, 26):
        store.add(message(store.take_id(), lc, business=1 if i % 5 else 2))
    assert store.count(1) == 20
    assert store.count(2) == 5
    assert [m.id for m in store.page(1, 0, 3)] == [24, 23, 22]
    assert [m.id for m in store.page(1, 18, 10)] == [2, 1]
    assert store.page(1, 20, 10) == []
    assert [m.id for m in store.page(2, 0, 10)] == [25, 20, 15, 10, 5]
    found = store.get(2, 15)
    assert found is not None
    assert found.id == 15
    assert store.get(1, 15) is None


def test_store_retention_is_bounded() -> None:
    store = MessageStore(retention=10)
    lc = LifecycleConfig()
    for _ in range(1000):
        store.add(message(store.take_id(), lc))
    assert 10 <= store.count(1) <= 20
    assert store.page(1, 0, 1)[0].id == 1000
