"""Reconciliation under chaos: the relay's settings for it, and the check of every verdict
against the sandbox's own record of what it accepted.

Each event has one recipient of its own, so the sandbox's count of accepted SMS for the
event's (text, recipient) is the truth, whatever the text (an OTP of its own, or the bulk
text many events share). A verdict is wrong when that count contradicts it:

- `sent` (the list showed it): exactly one SMS; none means a lost SMS reported as sent.
- `not_sent` (sent once now): exactly one; two means the first request had gone out.
- `ambiguous`: the rules' own answer, never wrong by itself; at most once it is left
  `unknown` (0 or 1 SMS), at least once it is resent (1 or 2: a duplicate, counted).

A chain of verdicts for one batch (a settling send that was ambiguous again) is judged by
its last one: any wrong step on the way shows in the count as well.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from service.devkit.sandbox import RunningSandbox
from service.devkit.sandbox.accounts import DEMO_PASSWORD, DEMO_USERNAME
from tests.chaos.harness import InputEvent, Reader

# Windows close pool + connect + write + read = 2 + 2 + 2 + 3 s after a claim; verdicts come
# a skew and a settle time later, in poller rounds a second apart. The sandbox's list lags
# (tests/chaos/conftest.py): the settle time covers it.
SETTLE_SECONDS = 3.0


def reconciling_env(sandbox: RunningSandbox) -> dict[str, str]:
    """The list read with renewing credentials (user and password), as a deployment whose
    run outlives one access token must: a static token lives the sandbox's five minutes,
    after which every round is refused and nothing pending is ever judged."""
    return {
        "PUSHR_USERNAME": DEMO_USERNAME,
        "PUSHR_PASSWORD": DEMO_PASSWORD,
        "RECONCILE_SETTLE_SECONDS": str(SETTLE_SECONDS),
        "RECONCILE_CLOCK_SKEW_SECONDS": "1.0",
        "STATUS_POLL_SECONDS": "1.0",
        "HTTP_WRITE_TIMEOUT": "2",
        "HTTP_POOL_TIMEOUT": "2",
    }


@dataclass
class Workload:
    """One workload's share of a run (unique texts, or the identical bulk text)."""

    name: str
    events: int = 0
    ambiguous_before: int = 0  # handed to the reconciler at least once
    reconciled_sent: int = 0
    reconciled_not_sent: int = 0  # not sent, then sent once
    left_ambiguous: int = 0  # unknown for good (at most once) or resent (at least once)
    duplicates: int = 0
    lost: int = 0
    wrong_verdicts: int = 0
    unknown_at_end: int = 0
    unknown_not_ambiguous: int = 0  # unknown at the end, yet not by an ambiguous verdict
    wrong_examples: list[str] | None = None


def judge_verdicts(
    events: list[InputEvent], out: Reader, sandbox: RunningSandbox, lost: set[str]
) -> dict[str, Workload]:
    """Per workload (`unique`, `identical`): what reconciliation did, and how often it erred."""
    verdicts: dict[str, list[str]] = defaultdict(list)
    handed: set[str] = set()
    for record in out.records:
        if record.get("type") != "result":
            continue
        event_id = str(record.get("event_id"))
        tag = record.get("reconciliation")
        if tag == "pending":
            handed.add(event_id)
        elif tag is not None and record.get("reconciled") and not record.get("replayed"):
            verdicts[event_id].append(str(tag))
    finals = out.finals()
    traffic = sandbox.traffic
    found = {
        "unique": Workload("unique texts", wrong_examples=[]),
        "identical": Workload("identical bulk texts", wrong_examples=[]),
    }
    for event in events:
        load = found["identical" if event.bulk else "unique"]
        load.events += 1
        sends = traffic.sends_for(event.normalised, event.message)
        load.duplicates += max(0, sends - 1)
        load.lost += event.event_id in lost
        status = finals.get(event.event_id, {}).get("status")
        load.unknown_at_end += status == "unknown"
        load.ambiguous_before += event.event_id in handed
        chain = verdicts.get(event.event_id)
        if status == "unknown" and (not chain or chain[-1] != "ambiguous"):
            load.unknown_not_ambiguous += 1
        if not chain:
            continue
        last = chain[-1]
        if last == "sent":
            load.reconciled_sent += 1
        elif last == "not_sent":
            load.reconciled_not_sent += 1
        else:
            load.left_ambiguous += 1
        if last in ("sent", "not_sent") and sends != 1:
            load.wrong_verdicts += 1
            assert load.wrong_examples is not None
            load.wrong_examples.append(f"{event.event_id}: {chain} with {sends} SMS")
    return found


def describe(load: Workload) -> dict[str, Any]:
    return {
        "events": load.events,
        "ambiguous_before": load.ambiguous_before,
        "reconciled_sent": load.reconciled_sent,
        "reconciled_not_sent_then_sent": load.reconciled_not_sent,
        "left_ambiguous": load.left_ambiguous,
        "duplicates": load.duplicates,
        "lost": load.lost,
        "wrong_verdicts": load.wrong_verdicts,
        "unknown_at_end": load.unknown_at_end,
        "unknown_not_ambiguous": load.unknown_not_ambiguous,
    }


def check(loads: dict[str, Workload], mode: str, total: int) -> None:
    """The targets: no wrong verdict first; for unique texts nothing lost or sent twice and
    (almost) no `unknown` left; for the bulk text only what the rules call ambiguous."""
    wrong = [x for load in loads.values() for x in load.wrong_examples or []]
    assert wrong == [], wrong[:5]
    unique, identical = loads["unique"], loads["identical"]
    assert (unique.lost, unique.duplicates) == (0, 0), describe(unique)
    assert unique.unknown_at_end <= total * 0.0005, describe(unique)
    assert identical.lost == 0, describe(identical)
    assert identical.unknown_not_ambiguous == 0, describe(identical)
    if mode == "at_most_once":
        assert identical.duplicates == 0, describe(identical)
    else:
        assert unique.unknown_at_end + identical.unknown_at_end == 0
        # a duplicate only where the list could not tell, and the batch was resent
        assert identical.duplicates <= identical.left_ambiguous, describe(identical)
