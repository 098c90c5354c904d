"""The idempotency ledger (see `service.ledger.base`).

The builders (`service.ledger.factory`) are not re-exported here: they need the settings,
which import `service.ledger.redis_options`, and importing them here would make a cycle.
"""

from service.ledger.base import (
    FINAL_STATES,
    BatchState,
    Claim,
    ClaimStatus,
    Ledger,
    LedgerEntry,
    LedgerError,
)
from service.ledger.memory import MemoryLedger
from service.ledger.redis import RedisLedger
from service.ledger.redis_rate import RedisRateLimiter

__all__ = [
    "FINAL_STATES",
    "BatchState",
    "Claim",
    "ClaimStatus",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "MemoryLedger",
    "RedisLedger",
    "RedisRateLimiter",
]
