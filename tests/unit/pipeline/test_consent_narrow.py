"""A template batch narrowed by consent: same key, its CSV rebuilt without the rows."""

from __future__ import annotations

import csv
import io

from service.contract import Contract, ContractLimits
from service.contract.model import Accepted
from service.pipeline.consent import narrow
from service.pipeline.plan import plan_batches

AMA, KOFI = "233558544343", "233248769324"


def test_a_template_batch_loses_only_the_dropped_rows() -> None:
    event = (
        b'{"event_id": "t1", "sender_id": "PYWE", "template": "Hi {name}: {amount} GHS",'
        b' "rows": [{"contact": "0558544343", "name": "Ama", "amount": "5"},'
        b' {"contact": "0248769324", "name": "Kofi", "amount": "7"}]}'
    )
    accepted = Contract(ContractLimits.defaults()).decode(event, now=1_800_000_000.0)
    assert isinstance(accepted, Accepted)
    (batch,) = plan_batches(accepted.request, 100)
    narrowed = narrow(accepted.request, batch, {KOFI})
    assert (narrowed.key, narrowed.index, narrowed.count) == (batch.key, 0, 1)
    assert narrowed.recipients == (AMA,)
    assert narrowed.csv_bytes is not None
    rows = list(csv.reader(io.StringIO(narrowed.csv_bytes.decode())))
    assert rows == [["contact", "name", "amount"], [AMA, "Ama", "5"]]
    assert narrowed.units == 1
