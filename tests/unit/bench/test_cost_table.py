"""The cost table's step attribution and arithmetic on fixed py-spy stacks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.bench import cost_table

ROOT = "main (/r/service/cli.py:51);Runner.run (/v/asyncio/runners.py:118)"
CONSUME = "ConsumerLoop._run_one (/r/service/kafka/consume.py:166)"
HANDLE = "RecordHandler.__call__ (/r/service/pipeline/handle.py:76)"


def stack(*frames: str) -> list[str]:
    return [*ROOT.split(";"), *frames]


@pytest.mark.parametrize(
    ("frames", "step"),
    [
        # the innermost frame that names a step wins over the handler that called it
        (stack(CONSUME, HANDLE, "send (/r/service/pushr/client.py:9)",
               "_request (/s/aiohttp/client.py:700)", "write (/v/asyncio/streams.py:3)"), "HTTP"),
        (stack(CONSUME, HANDLE, "plan_batches (/r/service/pipeline/plan.py:40)"), "plan"),
        (stack(CONSUME, HANDLE, "normalise_phone (/r/service/contract/phones.py:12)"),
         "normalise"),
        (stack(CONSUME, HANDLE, "event (/r/service/pipeline/publish.py:31)",
               "send (/s/aiokafka/producer/producer.py:400)",
               "append (/s/aiokafka/record/default_records.py:9)"), "produce"),
        (stack("commit (/r/service/kafka/offsets.py:20)",
               "commit_offsets (/s/aiokafka/consumer/group_coordinator.py:9)",
               "send (/s/aiokafka/client.py:500)"), "commit"),
        (stack("getmany (/s/aiokafka/consumer/consumer.py:1)",
               "_unpack (/s/aiokafka/record/default_records.py:2)"), "fetch"),
        (stack("_read (/s/aiokafka/conn.py:400)"), "kafka client I/O"),
        (stack(CONSUME, HANDLE, "claim (/r/service/ledger/memory.py:80)"), "ledger"),
        (stack(CONSUME, HANDLE, "result (/r/service/pipeline/outbound.py:30)",
               "mask_phone (/r/service/contract/masking.py:5)"), "build events"),
        # a log line's cost includes the scrubber's masking underneath it
        (stack(CONSUME, HANDLE, "info (/s/structlog/_native.py:3)",
               "scrub (/r/service/observability/logging.py:40)",
               "mask_phone (/r/service/contract/masking.py:5)"), "logs"),
        (stack(CONSUME, HANDLE, "inc (/s/prometheus_client/values.py:20)"), "metrics"),
        (stack(CONSUME, HANDLE, "create_task (/v/asyncio/tasks.py:384)"), "pipeline glue"),
        (stack(), "event loop & other"),
    ],
)  # fmt: skip
def test_each_sample_is_charged_to_one_step(frames, step):
    assert cost_table.classify(frames) == step


def test_inside_the_decoder_the_sampled_line_tells_decode_from_validate(tmp_path: Path):
    decoder = tmp_path / "service" / "contract" / "decoder.py"
    decoder.parent.mkdir(parents=True)
    decoder.write_text("obj = orjson.loads(raw)\nif not self._validator.is_valid(obj):\n")
    assert cost_table.classify(stack(f"decode ({decoder}:1)")) == "decode"
    assert cost_table.classify(stack(f"decode ({decoder}:2)")) == "validate"


def test_samples_are_read_from_py_spys_raw_format(tmp_path: Path):
    profile = tmp_path / "profile-a.txt"
    http = "process 1:main;thread (0x1);" + ";".join(
        stack(CONSUME, HANDLE, "_request (/s/aiohttp/client.py:700)")
    )
    loop = "process 1:main;thread (0x1);" + ";".join(stack())
    worker = "Thread.run (/v/threading.py:982);_worker (/v/concurrent/futures/thread.py:81)"
    working = f"{worker};_WorkItem.run (/v/concurrent/futures/thread.py:58);" + (
        "normalise_phone (/r/service/contract/phones.py:12)"
    )
    profile.write_text(f"{http} 30\n{loop} 10\n{worker} 500\n{working} 7\n")
    # the idle pool worker is left out; the one running a work item is charged to its step
    assert cost_table.step_samples(profile) == Counter(
        {"HTTP": 30, "event loop & other": 10, "normalise": 7}
    )


def bench_scenario(key: str, recipients: int, cpu_s_per_1000: float) -> dict[str, Any]:
    return {
        "scenario": key,
        "params": {"recipients": recipients},
        "service": {"cpu_s_per_1000_events": cpu_s_per_1000},
    }


def test_the_measured_cpu_is_split_by_the_sample_shares():
    scenario = bench_scenario("c", 10_000, 50.0)  # 50 ms of CPU per event
    costs = cost_table.costs(scenario, Counter({"normalise": 60, "HTTP": 40}))
    assert costs["normalise"] == pytest.approx(
        {"share": 0.6, "us_per_event": 30_000.0, "us_per_recipient": 3.0}
    )
    assert costs["HTTP"]["us_per_event"] == pytest.approx(20_000.0)
    assert costs["logs"] == {"share": 0.0, "us_per_event": 0.0, "us_per_recipient": 0.0}


def test_the_table_has_every_step_and_a_total_per_profiled_scenario():
    data = {"scenarios": [bench_scenario("a", 1, 0.5), bench_scenario("b", 1, 0.8)]}
    text = cost_table.markdown(data, {"a": Counter({"HTTP": 3, "logs": 1})})
    lines = text.splitlines()
    assert lines[0] == "| step | a: µs / event | a: µs / recipient | a: % |"
    assert "| HTTP | 375 | 375.0 | 75.0 |" in lines
    assert "| logs | 125 | 125.0 | 25.0 |" in lines
    assert "| **total** | 500 | 500.0 | 100 (4 samples) |" in lines
    assert len(lines) == 2 + len(cost_table.STEPS) + 1
