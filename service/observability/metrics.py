"""Every Prometheus metric of the relay, in one place, labels initialised up front.

`Metrics(registry)` takes its registry so each test can use a fresh one.

Over 300 lines: one module for every metric is the point (names, labels and help in one
place, checked against the README's table); each metric is a few declarative lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from prometheus_client import CollectorRegistry, Info

from service import __version__
from service.contract.events import EventStatus, ResultOutcome
from service.observability.account_metrics import AccountMetrics
from service.observability.metrics_types import Counter, Gauge, Histogram
from service.priority import PRIORITIES

NAMESPACE = "pushr_relay"

# Provider latency in Africa spans LAN-fast to mobile-backhaul slow: 10 ms .. 30 s.
PROVIDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30)
END_TO_END_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# A one-time password waits milliseconds; a campaign batch behind a balance pause, minutes.
SEND_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600)

ENDPOINTS = ("send-sms", "custom", "list")
PROVIDER_OUTCOMES = (
    "accepted",
    "rejected",
    "insufficient_balance",
    "unauthorized",
    "retry_safe",
    "ambiguous",
    "breaker_open",
)
# The contract's own literals, so a new outcome or status gets its series up front.
RESULT_OUTCOMES = get_args(ResultOutcome)
STATUSES = get_args(EventStatus)
CLAIM_STATUSES = ("claimed", "done", "busy", "taken_over")
BREAKER_STATES = ("closed", "open", "half_open")
PAUSE_REASONS = ("insufficient_balance", "credentials_rejected", "ledger_unavailable")
READINESS_CHECKS = ("group_joined", "kafka", "ledger", "pushr_credentials")
# Delivery-status poller (service/status/)
POLL_OUTCOMES = ("ok", "error", "unauthorized", "not_leader")
DELIVERY_STATUSES = ("delivered", "failed", "partial_failed")
UNTRACK_REASONS = ("final", "expired")
# Consent (opt-out list, frequency cap, quiet hours): service.contract.consent
DROP_REASONS = ("opted_out", "frequency_capped")
OPTOUT_RECORDS = ("applied", "invalid")
# Reconciliation (service/status/reconciler.py)
VERDICTS = ("sent", "not_sent", "ambiguous")
DELIVERY_MODES = ("at_most_once", "at_least_once")
RECONCILE_WAIT_REASONS = (
    "window_open",
    "lapsed_claim",
    "claim_in_flight",
    "list_incomplete",
    "list_unreadable",
)


class Metrics:
    RECONCILE_WAIT_REASONS = RECONCILE_WAIT_REASONS

    def __init__(self, registry: CollectorRegistry, rejection_reasons: Iterable[str] = ()) -> None:
        reasons = tuple(rejection_reasons)
        ns = NAMESPACE
        r = registry

        self.build_info = Info("build", "Build of the running relay.", namespace=ns, registry=r)
        self.build_info.info({"version": __version__})

        # --- intake ---
        self.events_consumed = Counter(
            "events_consumed", "Records read from the in-topic.", namespace=ns, registry=r
        )
        self.events_accepted = Counter(
            "events_accepted", "Events that passed validation.", namespace=ns, registry=r
        )
        self.events_rejected = Counter(
            "events_rejected",
            "Events rejected by validation.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "events_dead_lettered",
            "Records written to the DLQ topic.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.events_expired = Counter(
            "events_expired", "Events past expires_at, not sent.", namespace=ns, registry=r
        )
        self.recipients_accepted = Counter(
            "recipients_accepted", "Normalised recipients accepted.", namespace=ns, registry=r
        )
        self.recipients_rejected = Counter(
            "recipients_rejected", "Recipients rejected one by one.", namespace=ns, registry=r
        )
        for reason in reasons:
            self.events_rejected.labels(reason)
            self.events_dead_lettered.labels(reason)

        # --- provider ---
        self.provider_requests = Counter(
            "provider_requests",
            "Push.R HTTP attempts by outcome.",
            ["endpoint", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.provider_latency = Histogram(
            "provider_request_duration_seconds",
            "Push.R attempt latency.",
            ["endpoint"],
            namespace=ns,
            registry=r,
            buckets=PROVIDER_BUCKETS,
        )
        self.provider_retries = Counter(
            "provider_retries",
            "Push.R attempts that were retries.",
            ["endpoint"],
            namespace=ns,
            registry=r,
        )
        self.breaker_state = Gauge(
            "breaker_state",
            "1 for the breaker's current state.",
            ["endpoint", "state"],
            namespace=ns,
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "rate_limit_waits",
            "Requests delayed by the client-side rate limit.",
            namespace=ns,
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "rate_limit_wait_seconds",
            "Time spent waiting for the rate limit.",
            namespace=ns,
            registry=r,
        )
        self.sending_paused = Gauge(
            "sending_paused",
            "1 while sending is paused, by reason.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        for endpoint in ENDPOINTS:
            self.provider_latency.labels(endpoint)
            self.provider_retries.labels(endpoint)
            for outcome in PROVIDER_OUTCOMES:
                self.provider_requests.labels(endpoint, outcome)
            for state in BREAKER_STATES:
                self.breaker_state.labels(endpoint, state).set(1 if state == "closed" else 0)
        for pause in PAUSE_REASONS:
            self.sending_paused.labels(pause).set(0)

        # --- ledger and delivery ---
        self.ledger_claims = Counter(
            "ledger_claims", "Ledger claims by answer.", ["status"], namespace=ns, registry=r
        )
        self.duplicates_suppressed = Counter(
            "duplicates_suppressed",
            "Batches not resent because the ledger knew them.",
            namespace=ns,
            registry=r,
        )
        self.ledger_errors = Counter(
            "ledger_errors", "Ledger backend failures.", namespace=ns, registry=r
        )
        self.unknown_outcomes = Counter(
            "unknown_outcomes",
            "Batches whose send cannot be known (ambiguous).",
            ["delivery"],
            namespace=ns,
            registry=r,
        )
        self.results_published = Counter(
            "results_published",
            "Result events by outcome.",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.status_published = Counter(
            "status_events_published",
            "Status events by status.",
            ["status"],
            namespace=ns,
            registry=r,
        )
        for status in CLAIM_STATUSES:
            self.ledger_claims.labels(status)
        for mode in DELIVERY_MODES:
            self.unknown_outcomes.labels(mode)
        for outcome in RESULT_OUTCOMES:
            self.results_published.labels(outcome)
        for status in STATUSES:
            self.status_published.labels(status)

        # --- priority lanes ---
        self.send_wait = Histogram(
            "send_wait_seconds",
            "Time from a batch being queued to its first request to Push.R, by priority.",
            ["priority"],
            namespace=ns,
            registry=r,
            buckets=SEND_WAIT_BUCKETS,
        )
        self.send_queue = Gauge(
            "send_queue_length",
            "Batches waiting for their turn to send (gate, send slot, rate limit), by priority.",
            ["priority"],
            namespace=ns,
            registry=r,
        )
        self.batches_expired = Counter(
            "batches_expired",
            "Batches not sent because their expiry passed while they waited, by priority.",
            ["priority"],
            namespace=ns,
            registry=r,
        )
        for lane in PRIORITIES:
            self.send_wait.labels(lane)
            self.send_queue.labels(lane).set(0)
            self.batches_expired.labels(lane)

        self.events_in_flight = Gauge(
            "events_in_flight", "Events being processed.", namespace=ns, registry=r
        )
        self.batches_in_flight = Gauge(
            "batches_in_flight",
            "Batches being delivered: queued, waiting or sending, until their result.",
            namespace=ns,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "consumer_lag",
            "Records behind the partition's end.",
            ["topic", "partition"],
            namespace=ns,
            registry=r,
        )
        self.end_to_end = Histogram(
            "end_to_end_seconds",
            "Event timestamp to result published.",
            namespace=ns,
            registry=r,
            buckets=END_TO_END_BUCKETS,
        )
        self.sms_units = Counter(
            "sms_units", "Push.R units of accepted requests.", namespace=ns, registry=r
        )
        self.sms_cost = Counter(
            "sms_cost_ghs", "Cost in GHS reported by Push.R.", namespace=ns, registry=r
        )
        self.commits = Counter(
            "offset_commits", "Successful offset commits.", namespace=ns, registry=r
        )
        self.record_retries = Counter(
            "record_retries",
            "Records handled again after an unexpected failure (not a provider retry).",
            namespace=ns,
            registry=r,
        )
        self.last_progress = Gauge(
            "last_progress_timestamp_seconds",
            "When the main loop last made progress.",
            namespace=ns,
            registry=r,
        )
        self.ready = Gauge("ready", "1 when /readyz answers 200.", namespace=ns, registry=r)
        self.readiness_check = Gauge(
            "readiness_check",
            "1 when the readiness check passes, by check (as of the last probe or scrape).",
            ["check"],
            namespace=ns,
            registry=r,
        )
        for check in READINESS_CHECKS:
            self.readiness_check.labels(check)

        # --- delivery-status poller ---
        self.status_polls = Counter(
            "status_polls",
            "Delivery-status poll rounds by outcome.",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.status_poll_pages = Counter(
            "status_poll_pages", "Pages of Push.R's status list read.", namespace=ns, registry=r
        )
        self.status_tracked = Gauge(
            "status_tracked_messages",
            "Push.R messages whose delivery status is awaited (as the last round saw them).",
            namespace=ns,
            registry=r,
        )
        self.status_track_errors = Counter(
            "status_track_errors",
            "Sent messages that could not be recorded for status polling.",
            namespace=ns,
            registry=r,
        )
        self.delivery_reports = Counter(
            "delivery_reports",
            "Final delivery statuses reported by Push.R and published.",
            ["status"],
            namespace=ns,
            registry=r,
        )
        self.status_untracked = Counter(
            "status_untracked",
            "Messages no longer polled, by reason.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.status_poller_leader = Gauge(
            "status_poller_leader",
            "1 while this replica holds the status-poller lease.",
            namespace=ns,
            registry=r,
        )
        self.status_last_poll = Gauge(
            "status_last_poll_timestamp_seconds",
            "When the last successful poll round ended (epoch seconds).",
            namespace=ns,
            registry=r,
        )
        for poll_outcome in POLL_OUTCOMES:
            self.status_polls.labels(poll_outcome)
        for delivery in DELIVERY_STATUSES:
            self.delivery_reports.labels(delivery)
        for untrack in UNTRACK_REASONS:
            self.status_untracked.labels(untrack)

        # --- reconciliation ---
        self.reconcile_handoffs = Counter(
            "reconcile_handoffs",
            "Ambiguous batches handed to the reconciler, by delivery mode.",
            ["delivery"],
            namespace=ns,
            registry=r,
        )
        self.reconcile_verdicts = Counter(
            "reconcile_verdicts",
            "Reconciliation verdicts committed, by verdict and delivery mode.",
            ["verdict", "delivery"],
            namespace=ns,
            registry=r,
        )
        self.reconcile_pending = Gauge(
            "reconcile_pending_batches",
            "Batches waiting for a verdict (as the lease holder's last round saw them).",
            namespace=ns,
            registry=r,
        )
        self.reconcile_oldest_pending = Gauge(
            "reconcile_oldest_pending_seconds",
            "Age of the oldest batch waiting for a verdict (0 when none waits).",
            namespace=ns,
            registry=r,
        )
        self.reconcile_waiting = Gauge(
            "reconcile_waiting_batches",
            "Batches not judged in the last round, by why they wait.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        for mode in DELIVERY_MODES:
            self.reconcile_handoffs.labels(mode)
            for verdict in VERDICTS:
                self.reconcile_verdicts.labels(verdict, mode)
        for reason in RECONCILE_WAIT_REASONS:
            self.reconcile_waiting.labels(reason).set(0)

        # --- accounts and spend guards (service/accounts/) ---
        self.accounts = AccountMetrics(ns, r)
        # --- consent: opt-out list, frequency cap, quiet hours ---
        self.recipients_dropped = Counter(
            "recipients_dropped",
            "Recipients left out of a batch right before its send, by reason.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.optout_list_size = Gauge(
            "optout_list_numbers",
            "Numbers on the opt-out list, as the store holds them.",
            namespace=ns,
            registry=r,
        )
        self.optout_lag = Gauge(
            "optout_lag_records",
            "Opt-out records on the topic not yet read into the store.",
            namespace=ns,
            registry=r,
        )
        self.optout_records = Counter(
            "optout_records",
            "Opt-out records read from the topic: applied, or invalid (skipped, logged).",
            ["result"],
            namespace=ns,
            registry=r,
        )
        self.quiet_hours_deferred = Counter(
            "bulk_deferred_batches",
            "Bulk batches sent inside quiet hours as Push.R scheduled messages (policy defer).",
            namespace=ns,
            registry=r,
        )
        self.quiet_hours_held = Counter(
            "bulk_held_events",
            "Bulk events held in Kafka until quiet hours ended (policy hold).",
            namespace=ns,
            registry=r,
        )
        for drop in DROP_REASONS:
            self.recipients_dropped.labels(drop)
        for record in OPTOUT_RECORDS:
            self.optout_records.labels(record)
