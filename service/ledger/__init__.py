"""The idempotency ledger (see `service.ledger.base`)."""

from service.ledger.base import (
    FINAL_STATES,
    BatchState,
    Claim,
    ClaimStatus,
    Ledger,
    LedgerEntry,
    LedgerError,
)
from service.ledger.factory import open_ledger, redis_client
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
    "open_ledger",
    "redis_client",
]
