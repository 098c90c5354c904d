"""Property: no recipient on the list with scope `all` is ever sent a message, whatever the
order of opt-out records and send events on their topics, once the opt-out was read before
the batch's claim; and no batch is ever sent twice, whatever the list did in between.

Opt-out records carry topic offsets and arrive in any order, replays of older records
included (a replica starting while others run); the newest record read so far is the
truth. Send events arrive between them, some delivered again (Kafka redelivery)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.contract.consent import Scope
from service.ledger.optouts import OptOutChange
from tests.unit.pipeline.consent_harness import Relay

NUMBERS = ("233558544343", "233248769324", "233201234567", "233271112223")


@dataclass(frozen=True)
class Record:
    offset: int
    number: str
    opted_out: bool


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, object]]:
    records = [
        Record(offset, draw(st.sampled_from(NUMBERS)), draw(st.booleans()))
        for offset in range(draw(st.integers(0, 8)))
    ]
    arrivals = draw(st.lists(st.sampled_from(records), max_size=16)) if records else []
    events = [
        (f"e{i}", tuple(draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=4))))
        for i in range(draw(st.integers(1, 5)))
    ]
    sends = events + draw(st.lists(st.sampled_from(events), max_size=4))  # redeliveries
    steps: list[tuple[str, object]] = [("record", r) for r in arrivals]
    steps += [("send", e) for e in sends]
    return draw(st.permutations(steps))


async def replay(steps: list[tuple[str, object]], batch_size: int) -> None:
    relay = Relay(batch_size=batch_size)
    newest: dict[str, Record] = {}
    for kind, item in steps:
        if kind == "record":
            assert isinstance(item, Record)
            scope: Scope | None = "all" if item.opted_out else None
            await relay.optouts.apply([OptOutChange(item.number, scope, 0, item.offset)])
            held = newest.get(item.number)
            if held is None or held.offset < item.offset:
                newest[item.number] = item
            continue
        event_id, numbers = cast(tuple[str, tuple[str, ...]], item)
        before = len(relay.client.sent)
        body = {"event_id": event_id, "message": f"hi {event_id}", "recipients": list(numbers)}
        await relay.consume(body)
        opted_out = {n for n, r in newest.items() if r.opted_out}
        for sent in relay.client.sent[before:]:
            assert not opted_out & set(sent.recipients)
    # never a second request for one batch: at most one per planned batch of each event
    requests = Counter(sent.message for sent in relay.client.sent)
    sends = {cast(tuple[str, tuple[str, ...]], item) for kind, item in steps if kind == "send"}
    for event_id, numbers in sends:
        planned = -(-len(set(numbers)) // batch_size)
        assert requests[f"hi {event_id}"] <= planned


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(histories(), st.sampled_from([1, 2, 100]))
def test_no_opted_out_recipient_is_ever_sent_and_no_batch_twice(
    steps: list[tuple[str, object]], batch_size: int
) -> None:
    asyncio.run(replay(steps, batch_size))
