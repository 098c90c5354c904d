"""Deterministic batch plans: the same normalised event always yields the same batches.

The ledger keys batches by position, so planning must depend only on the event and
the batch size — never on timing or arrival order. `iter_batches` makes them one at a time,
in index order, so a large event is planned as its batches' turns come (its count is known
up front: `batch_count`) rather than all at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from service.contract import SmsRequest
from service.contract.normalise import VARIABLE


@dataclass(frozen=True, slots=True)
class Batch:
    key: str  # ledger key: "{idempotency_key or event_id}#{index}/{count}"
    index: int
    count: int
    recipients: tuple[str, ...]
    units: int = 0  # Push.R units: ceil(characters / 160) per recipient
    csv_bytes: bytes | None = None  # template sends: the chunk as Push.R's CSV file


def batch_key(request: SmsRequest, index: int, count: int, namespace: str = "") -> str:
    return f"{namespace}{request.idempotency_key or request.event_id}#{index}/{count}"


def batch_count(request: SmsRequest, batch_size: int) -> int:
    items = len(request.rows) if request.kind == "template" else len(request.recipients)
    return max(1, -(-items // batch_size))


def iter_batches(request: SmsRequest, batch_size: int, namespace: str = "") -> Iterator[Batch]:
    """The event's batches in index order, each made when asked for. `namespace` prefixes
    the keys of an account other than `default` ("parcels "), so two accounts' events with
    the same idempotency key are two sends."""
    count = batch_count(request, batch_size)
    if request.kind == "template":
        for i in range(count):
            part = slice(i * batch_size, (i + 1) * batch_size)
            yield _template_batch(request, part, i, count, namespace)
        return
    recipients = request.recipients
    per_recipient = units_of(request.message or "")
    for i in range(count):
        chunk = recipients[i * batch_size : (i + 1) * batch_size]
        yield Batch(
            key=batch_key(request, i, count, namespace),
            index=i,
            count=count,
            recipients=chunk,
            units=per_recipient * len(chunk),
        )


def plan_batches(request: SmsRequest, batch_size: int, namespace: str = "") -> list[Batch]:
    return list(iter_batches(request, batch_size, namespace))


def units_of(message: str) -> int:
    return max(1, -(-len(message) // 160))


def template_columns(template: str) -> list[str]:
    """`contact` first, then each variable once, in order of first use."""
    seen: dict[str, None] = {"contact": None}
    for name in VARIABLE.findall(template):
        seen.setdefault(name, None)
    return list(seen)


def _template_batch(
    request: SmsRequest,
    part: slice,
    index: int,
    count: int,
    namespace: str,
) -> Batch:
    rows = request.rows[part]
    columns = template_columns(request.template or "")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    # Every row has every column (the contract checked each variable, and `render` below
    # needs them all), so the writer takes the rows in one call, each cut by an itemgetter.
    cells: Callable[[dict[str, str]], tuple[str, ...]] = (
        itemgetter(*columns) if len(columns) > 1 else lambda row: (row["contact"],)
    )
    writer.writerows(map(cells, rows))
    return Batch(
        key=batch_key(request, index, count, namespace),
        index=index,
        count=count,
        recipients=tuple(row["contact"] for row in rows),
        units=sum(request.row_units[part]),
        csv_bytes=buffer.getvalue().encode("utf-8"),
    )
