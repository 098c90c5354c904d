"""How the relay's garbage collector runs: the start-up heap frozen, young objects collected
less often. Reference counting frees almost everything the relay makes; the collector is only
for cycles, and with its defaults it cost a sizeable share of the CPU and the longest pauses."""

from __future__ import annotations

import gc
from typing import Final

# Allocations (net of frees) before the youngest generation is collected; then every 20th
# collection also takes the middle one, and every 20th of those the oldest.
THRESHOLDS: Final = (10_000, 20, 20)


def settle_heap() -> None:
    """Called once, when start-up is done and before the first event is read.

    Freezing: modules, schemas, settings and clients (about 90,000 objects) live as long as
    the process, yet every full collection walked them; frozen, a collection sees only what
    the events made. The thresholds: each event allocates hundreds of short-lived
    containers (httpx's models, event dicts), so the default of 700 ran a collection every
    few events; at 10,000 most of them are freed by reference counting before a collection
    would see them. `make bench` measures the effect (README, "Where the time goes").
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
