"""How the relay's garbage collector runs: the start-up heap is frozen. Reference counting
frees almost everything the relay makes; the collector is only for cycles, and every full
collection used to walk the whole start-up heap as well."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Called once, when start-up is done and before the first event is read.

    Modules, schemas, settings and clients (about 90,000 objects) live as long as the
    process, yet every full collection walked them, a pause of tens of milliseconds each
    time; frozen, a collection sees only what the events made. The thresholds stay
    Python's: raising them saved little CPU and let a bulk run's peak memory grow past its
    budget (README, "Why the hot paths are built as they are").
    """
    gc.collect()
    gc.freeze()
