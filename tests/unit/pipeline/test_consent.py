"""Consent in the real handler: opted-out and capped recipients are dropped inside the
planned batch, right before its claim; the ledger still never sends a batch twice."""

from __future__ import annotations

from datetime import UTC, datetime

from service.contract.schemas import RESULT, STATUS, schema_errors
from tests.unit.pipeline.consent_harness import ACCRA_2100, Relay

AMA, KOFI, ESI = "233558544343", "233248769324", "233201234567"


def event(event_id: str, *numbers: str, priority: str = "normal") -> dict[str, object]:
    return {
        "event_id": event_id,
        "message": "Promo: 10% off",
        "recipients": list(numbers),
        "priority": priority,
    }


def promo(event_id: str, *numbers: str) -> dict[str, object]:
    return event(event_id, *numbers, priority="bulk")


async def test_an_opted_out_recipient_is_left_out_and_told_masked() -> None:
    relay = Relay()
    await relay.opt_out(KOFI)
    await relay.consume(event("e1", AMA, KOFI, ESI))
    assert relay.sent_to() == [AMA, ESI]
    (result,) = relay.publisher.of("e1", "result")
    assert result["outcome"] == "sent"
    assert result["recipients_count"] == 2
    assert result["rejected_recipients"] == [
        {"path": "/recipients/1", "recipient": "23324****324", "reason": "opted_out"}
    ]
    final = relay.final("e1")
    assert final["status"] == "sent"
    assert final["recipients_rejected"] == 1
    assert final["rejected_recipients"][0]["reason"] == "opted_out"
    assert schema_errors(RESULT, result) == []
    assert schema_errors(STATUS, final) == []
    assert KOFI not in str(relay.publisher.events)


async def test_an_event_left_with_no_recipient_is_rejected_without_a_request() -> None:
    relay = Relay()
    await relay.opt_out(AMA)
    await relay.opt_out(KOFI)
    await relay.consume(event("e1", AMA, KOFI))
    assert relay.client.sent == []
    (result,) = relay.publisher.of("e1", "result")
    assert (result["outcome"], result["attempts"], result["recipients_count"]) == ("rejected", 0, 0)
    final = relay.final("e1")
    assert (final["status"], final["reason"]) == ("rejected", "opted_out")
    assert schema_errors(STATUS, final) == []


async def test_an_emptied_batch_does_not_make_the_others_partial() -> None:
    relay = Relay(batch_size=2)
    await relay.opt_out(ESI)
    await relay.consume(event("e1", AMA, KOFI, ESI))
    assert relay.sent_to() == [AMA, KOFI]
    final = relay.final("e1")
    assert final["status"] == "sent"
    assert final["batches"]["total"] == 2
    assert final["rejected_recipients"][0]["path"] == "/recipients/2"


async def test_a_redelivery_after_the_list_changed_never_sends_a_batch_again() -> None:
    relay = Relay()
    await relay.consume(event("e1", AMA, KOFI))
    await relay.opt_out(KOFI)  # too late for e1: already sent
    await relay.consume(event("e1", AMA, KOFI))
    assert relay.sent_to() == [AMA, KOFI]
    await relay.opt_out(ESI)
    await relay.consume(event("e2", AMA, ESI))
    await relay.opt_out(ESI, None)  # back on; e2's batch was done without her
    await relay.consume(event("e2", AMA, ESI))
    assert relay.sent_to() == [AMA, KOFI, AMA]
    assert relay.publisher.of("e2", "result")[-1]["replayed"] is True


async def test_without_consent_rules_nothing_changes() -> None:
    relay = Relay()
    await relay.consume(event("e1", AMA))
    (result,) = relay.publisher.of("e1", "result")
    assert "rejected_recipients" not in result
    assert "scheduled_for" not in result
    assert "rejected_recipients" not in relay.final("e1")


async def test_scope_bulk_only_stops_bulk() -> None:
    relay = Relay()
    await relay.opt_out(AMA, "bulk")
    await relay.consume(promo("e1", AMA, KOFI))
    assert relay.sent_to() == [KOFI]


async def test_scope_bulk_lets_other_lanes_through() -> None:
    relay = Relay()
    await relay.opt_out(AMA, "bulk")
    await relay.consume(event("otp", AMA, priority="critical"))
    await relay.consume(event("receipt", AMA))
    assert relay.sent_to() == [AMA, AMA]


async def test_the_frequency_cap_drops_the_recipient_past_n_in_24_hours() -> None:
    relay = Relay(cap=2)
    for i in range(3):
        await relay.consume(promo(f"promo-{i}", AMA, KOFI if i == 2 else ESI))
    assert relay.sent_to().count(AMA) == 2
    final = relay.final("promo-2")
    assert final["rejected_recipients"] == [
        {"path": "/recipients/0", "recipient": "23355****343", "reason": "frequency_capped"}
    ]
    relay.clock.advance(24 * 3600)
    await relay.consume(promo("promo-3", AMA))
    await relay.consume(event("receipt", AMA))  # never capped: not bulk
    assert relay.sent_to().count(AMA) == 4


async def test_a_bulk_event_inside_quiet_hours_is_scheduled_for_their_end() -> None:
    relay = Relay(quiet="20:00-08:00")
    relay.clock.advance(ACCRA_2100 - relay.clock.now())
    await relay.consume(promo("night", AMA))
    (sent,) = relay.client.sent
    assert sent.scheduled_at == datetime(2027, 1, 16, 8, 0, tzinfo=UTC)
    (result,) = relay.publisher.of("night", "result")
    assert result["outcome"] == "scheduled"
    assert result["scheduled_for"] == "2027-01-16T08:00:00Z"
    assert relay.final("night")["status"] == "scheduled"
    assert relay.metrics.quiet_hours_deferred._value.get() == 1


async def test_quiet_hours_leave_other_lanes_alone() -> None:
    relay = Relay(quiet="20:00-08:00")
    relay.clock.advance(ACCRA_2100 - relay.clock.now())
    await relay.consume(event("otp", AMA, priority="critical"))
    await relay.consume(event("receipt", KOFI))
    assert [s.scheduled_at for s in relay.client.sent] == [None, None]


async def test_policy_hold_waits_on_the_clock_until_the_window_ends() -> None:
    relay = Relay(quiet="20:00-08:00", policy="hold")
    relay.clock.advance(ACCRA_2100 - relay.clock.now())
    await relay.consume(promo("night", AMA))
    # the manual clock's sleep moved it to the window's end before anything was published
    assert relay.clock.now() == ACCRA_2100 + 11 * 3600
    assert relay.client.sent[0].scheduled_at is None
    assert relay.publisher.events[0]["status"] == "accepted"
