"""The Markdown tables and the PNG chart of a bench run (`reports/bench.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.bench import lanes
from tests.bench.peers import NAIVE, RELAY, Guarantees

FEW_EVENTS = 10  # fewer results than this in a peer's window make its rate a lower bound
NO_KAFKA = "— (HTTP loop, no Kafka)"
CONSUME_ONLY = "— (consumes only)"


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def guarantees_cell(g: Guarantees) -> str:
    yes_no = {True: "yes", False: "no"}
    return (
        f"commit after done: {yes_no[g.commit_after_done]}; "
        f"no second send: {yes_no[g.no_second_send]}; order: {g.ordering}"
    )


def systems(s: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, guarantees, figures) of everything measured in one scenario, relay first."""
    rows = [("**relay**", guarantees_cell(RELAY), s["service"])]
    for name, peer in s.get("peers", {}).items():
        label = f"{name}: {peer['label']}" if "error" not in peer else f"{name} ({peer['error']})"
        if 0 < peer.get("events", FEW_EVENTS) < FEW_EVENTS:
            label += f" (only {peer['events']} finished in its window: a lower bound)"
        rows.append((label, guarantees_cell(Guarantees(**peer["guarantees"])), peer))
    rows.append(("naive consumer (one event at a time)", guarantees_cell(NAIVE), s["naive"]))
    ce = s["ceilings"]
    rows.append(("raw aiohttp loop (ceiling)", NO_KAFKA, ce.get("http_aiohttp", {})))
    rows.append(("raw loop on the relay's transport", NO_KAFKA, ce.get("http_service", {})))
    rows.append(("raw aiokafka consumption", CONSUME_ONLY, ce.get("kafka", {})))
    return rows


def comparison(data: dict[str, Any]) -> str:
    rows = [
        "| scenario | system | guarantees | events/s | recipients/s | CPU s / 1k events "
        "| peak RSS MiB | relay / this |",
        "|" + "---|" * 8,
    ]
    for s in data["scenarios"]:
        relay_rate = s["service"]["events_per_s"]
        recipients = s["params"]["recipients"]
        for name, guarantees, fig in systems(s):
            rate = fig.get("events_per_s")
            ratio = relay_rate / rate if rate else None
            rows.append(
                f"| {s['scenario']} | {name} | {guarantees} | {_n(rate, 1)} "
                f"| {_n(rate * recipients if rate else None)} "
                f"| {_n(fig.get('cpu_s_per_1000_events'), 2)} | {_n(fig.get('peak_rss_mib'), 1)} "
                f"| {_n(ratio, 2) if name != '**relay**' else '1'} |"
            )
    return "\n".join(rows)


def latency(data: dict[str, Any]) -> str:
    rows = [
        "| scenario | relay e2e p50 / p95 / p99 ms (half rate) | p99 overhead ms "
        "| produce → accepted p99 ms | relay / (in_flight / latency) |",
        "|" + "---|" * 5,
    ]
    for s in data["scenarios"]:
        svc = s["service"]
        lat, acc = svc["latency_half_rate_ms"], svc["half_rate_produce_to_accepted_ms"]
        rows.append(
            f"| {s['scenario']}: {s['title']} "
            f"| {_n(lat['p50'])} / {_n(lat['p95'])} / {_n(lat['p99'])} "
            f"| {_n(svc['p99_overhead_ms'])} | {_n(acc['p99'])} "
            f"| {_n(s['ratios'].get('service_vs_inflight_over_latency'), 2)} |"
        )
    return "\n".join(rows)


def met_word(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "— (no figure)"}[met]


def targets_table(data: dict[str, Any]) -> str:
    lines = ["| scenario | target | goal | value | |", "|---|---|---|---|---|"]
    for s in data["scenarios"]:
        for t in s["targets"]:
            lines.append(
                f"| {s['scenario']} | {t['target']} | {t['goal']} | {_n(t['value'], 2)} "
                f"| {met_word(t['met'])} |"
            )
    return "\n".join(lines)


def machine_line(data: dict[str, Any]) -> str:
    pin = data["pinning"]
    where = "none"
    if pin["taskset"]:
        where = (
            f"sandbox on CPU {pin['sandbox_cpus']}, relay/peers/ceilings/naive on CPU "
            f"{pin['relay_ceilings_naive_cpu']}"
        )
    return (
        f"Machine: {data['machine']['cpus']} CPUs, {data['machine']['mem_total_gib']} GiB; "
        f"pinning: {where}; broker and load generator unpinned. Mode: {data['mode']}."
    )


def markdown(data: dict[str, Any]) -> str:
    parts = [comparison(data), latency(data), targets_table(data)] if data["scenarios"] else []
    if data.get("lanes"):
        parts.append(lanes.markdown(data["lanes"]))
    return "\n\n".join([*parts, machine_line(data)])


def target_lines(data: dict[str, Any]) -> list[str]:
    """One plain line per target: `a: service / naive >= 5: 6.10 met`."""
    judged = [(s["scenario"], t) for s in data["scenarios"] for t in s["targets"]]
    if data.get("lanes"):
        judged += [("e", t) for t in data["lanes"]["targets"]]
    return [
        f"{key}: {t['target']} {t['goal']}: {_n(t['value'], 2)} {met_word(t['met']).strip('*')}"
        for key, t in judged
    ]


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only when writing the chart

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    scen = data["scenarios"]
    labels = [f"{s['scenario']}: {s['title']}" for s in scen]
    names = sorted({name for s in scen for name in s.get("peers", {})})
    series = {
        "relay": [s["service"]["events_per_s"] for s in scen],
        **{n: [s.get("peers", {}).get(n, {}).get("events_per_s") for s in scen] for n in names},
        "naive": [s["naive"].get("events_per_s") for s in scen],
        "aiohttp ceiling": [
            s["ceilings"].get("http_aiohttp", {}).get("events_per_s") for s in scen
        ],
        "service-transport ceiling": [
            s["ceilings"].get("http_service", {}).get("events_per_s") for s in scen
        ],
    }
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5))
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(scen))]
        ax1.bar(xs, [v or 0 for v in values], width, label=name)
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(scen)), labels, rotation=15, fontsize=8)
    ax1.set_ylabel("events/s (log)")
    ax1.set_title("Throughput: relay, peers, naive baseline and ceilings")
    ax1.legend(fontsize=7)
    for k, q in enumerate(("p50", "p95", "p99")):
        xs = [i + (k - 1) * 0.25 for i in range(len(scen))]
        ax2.bar(xs, [s["service"]["latency_half_rate_ms"][q] or 0 for s in scen], 0.25, label=q)
    ax2.set_xticks(range(len(scen)), labels, rotation=15, fontsize=8)
    ax2.set_ylabel("ms")
    ax2.set_yscale("log")
    ax2.set_title("Relay end-to-end latency at half its max rate")
    ax2.legend(fontsize=8)
    fig.suptitle(f"pushr-relay bench ({data['mode']}, {data['generated_at']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
