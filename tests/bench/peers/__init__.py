"""The peers of the benchmark: what a team would run instead of the relay, doing its job on
the same broker, sandbox and CPU (read the event, POST Push.R's send-sms body per batch of
100, publish one result record per event), each labelled with the guarantees it gives.

`service_vs_best_peer` compares the relay only with peers that promise no more than it does
(`Guarantees.no_stronger_than`), so a faster peer that gives less is no excuse and a slower
one that gives more is no trophy.
"""

from __future__ import annotations

from dataclasses import dataclass

ORDERING_RANK = {"none": 0, "key": 1, "partition": 2}


@dataclass(frozen=True)
class Guarantees:
    commit_after_done: bool  # an offset is committed only once its work is done and published
    no_second_send: bool  # a redelivered event does not send its SMS again
    ordering: str  # which events finish in order: "none", "key" (same key) or "partition"

    def no_stronger_than(self, other: Guarantees) -> bool:
        """True when every guarantee of this one is one `other` gives as well."""
        return (
            (other.commit_after_done or not self.commit_after_done)
            and (other.no_second_send or not self.no_second_send)
            and ORDERING_RANK[self.ordering] <= ORDERING_RANK[other.ordering]
        )

    def describe(self) -> str:
        return "; ".join(
            [
                f"commit after done: {'yes' if self.commit_after_done else 'no'}",
                f"no second send: {'yes' if self.no_second_send else 'no'}",
                f"ordering: {self.ordering}",
            ]
        )


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    guarantees: Guarantees


# events of one partition finish out of order; one event's own records stay in order
RELAY = Guarantees(commit_after_done=True, no_second_send=True, ordering="none")
NAIVE = Guarantees(commit_after_done=True, no_second_send=False, ordering="partition")

PEERS = {
    p.name: p
    for p in (
        Peer(
            "faststream-ack-first",
            "FastStream 0.7.8 + httpx, max_workers={n} (ack-first, as documented)",
            Guarantees(commit_after_done=False, no_second_send=False, ordering="none"),
        ),
        Peer(
            "faststream-ack",
            "FastStream 0.7.8 + httpx, ack_policy=ACK (one consumer per partition)",
            Guarantees(commit_after_done=True, no_second_send=False, ordering="partition"),
        ),
        Peer(
            "parallel-consumer",
            "Confluent Parallel Consumer 0.5.3.3, maxConcurrency={n}, KEY order, JDK HttpClient",
            Guarantees(commit_after_done=True, no_second_send=False, ordering="key"),
        ),
    )
}
QUICK_PEERS = ("faststream-ack-first",)  # keeps `make bench-quick` CI-sized
