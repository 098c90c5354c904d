"""Metric reads in tests: a sample that exists reads its value (0 included); a misspelt
metric or label set raises instead of reading 0."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.contract import REJECTION_REASONS
from service.observability.metrics import Metrics
from tests.fixtures.metrics import MissingSample, parse_exposition, sample_names, sample_value


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Metrics(registry, REJECTION_REASONS)
    return registry


def test_a_label_set_initialised_up_front_reads_zero(registry: CollectorRegistry) -> None:
    labels = {"reason": "not_json"}
    assert sample_value(registry, "pushr_relay_events_rejected_total", labels) == 0


def test_a_misspelt_metric_raises_with_the_nearest_name(registry: CollectorRegistry) -> None:
    with pytest.raises(MissingSample, match="did you mean pushr_relay_events_consumed_total"):
        sample_value(registry, "pushr_relay_events_consumd_total")


def test_an_unknown_label_value_raises_listing_the_label_sets(
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(MissingSample, match=r"no sample labelled \{'reason': 'shema_invalid'\}"):
        sample_value(registry, "pushr_relay_events_rejected_total", {"reason": "shema_invalid"})


def test_labels_left_out_do_not_match_a_labelled_metric(registry: CollectorRegistry) -> None:
    with pytest.raises(MissingSample, match=r"no sample labelled \{\}"):
        sample_value(registry, "pushr_relay_events_rejected_total")


def test_a_labelled_metric_with_no_child_yet_raises() -> None:
    registry = CollectorRegistry()
    Gauge("lag", "records behind", ["topic"], registry=registry)
    with pytest.raises(MissingSample, match="lag exists but has no sample yet"):
        sample_value(registry, "lag", {"topic": "sms"})


def test_values_move_and_histograms_expose_their_series() -> None:
    registry = CollectorRegistry()
    Counter("sent", "sends", ["endpoint"], registry=registry).labels("send-sms").inc(3)
    Histogram("latency_seconds", "latency", buckets=(0.1, 1), registry=registry).observe(0.5)
    assert sample_value(registry, "sent_total", {"endpoint": "send-sms"}) == 3
    assert sample_value(registry, "latency_seconds_bucket", {"le": "0.1"}) == 0
    assert sample_value(registry, "latency_seconds_bucket", {"le": "1.0"}) == 1
    assert sample_value(registry, "latency_seconds_count") == 1


def test_a_scraped_exposition_reads_the_same(registry: CollectorRegistry) -> None:
    scraped = parse_exposition(generate_latest(registry).decode())
    assert sample_value(scraped, "pushr_relay_ready") == sample_value(registry, "pushr_relay_ready")
    assert "pushr_relay_build_info" in sample_names(scraped)
    with pytest.raises(MissingSample, match="no metric named pushr_relay_redy"):
        sample_value(scraped, "pushr_relay_redy")
