"""The event contract: schemas, validation, normalisation, cost, outbound events, dead letters.

The pipeline builds one `Contract` from `ContractLimits.from_settings(settings)` and calls
`decode(raw, now=clock.now())` per Kafka message; everything else here serves that call or
turns its answer into an outbound event or a dead-letter record.
"""

from service.contract.dead_letter import build_dlq_record
from service.contract.decoder import Contract
from service.contract.events import (
    BatchSummary,
    build_result_event,
    build_status_event,
    replay_result,
    status_accepted,
    status_expired,
    status_rejected,
    unknown_event_id,
)
from service.contract.model import (
    REJECTION_REASONS,
    Accepted,
    ContractLimits,
    Estimate,
    FieldError,
    RejectedRecipient,
    Rejection,
    SmsRequest,
)

__all__ = [
    "REJECTION_REASONS",
    "Accepted",
    "BatchSummary",
    "Contract",
    "ContractLimits",
    "Estimate",
    "FieldError",
    "RejectedRecipient",
    "Rejection",
    "SmsRequest",
    "build_dlq_record",
    "build_result_event",
    "build_status_event",
    "replay_result",
    "status_accepted",
    "status_expired",
    "status_rejected",
    "unknown_event_id",
]
