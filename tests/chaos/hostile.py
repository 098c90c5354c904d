"""Hostile inputs, each invalid by construction: random bytes, hypothesis-generated JSON
that is no event, broken near-events (some carrying full numbers and the API secret, which
the DLQ must not repeat), a 10 MB payload, deeply nested JSON, invalid UTF-8."""

from __future__ import annotations

import random
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.contract import Contract, ContractLimits, Rejection
from service.devkit.sandbox.accounts import DEMO_SECRET_KEY
from service.settings import Settings

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
# no `message` / `template` key: never a sendable event
_NOT_EVENT = (
    st.dictionaries(
        st.text(max_size=12).filter(lambda k: k not in {"message", "template"}), _JSON, max_size=8
    )
    | st.lists(_JSON, max_size=6)
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=50)
)


def hypothesis_values(count: int, seed: int) -> list[bytes]:
    found: list[bytes] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(_NOT_EVENT)
    def collect(value: Any) -> None:
        found.append(orjson.dumps(value))

    collect()
    rng = random.Random(seed)
    while len(found) < count:  # hypothesis may stop early once its space is exhausted
        found.append(orjson.dumps({"k": rng.random(), "n": len(found)}))
    return found[:count]


def near_events(rng: random.Random, i: int, number: str) -> bytes:
    base: dict[str, Any] = {
        "event_id": f"hostile-{i}",
        "message": "Your code is 4711",
        "recipients": [number],
        "sender_id": "PYWE",
    }
    kind = i % 8
    if kind == 0:
        base["recipients"] = number  # a string, not a list
    elif kind == 1:
        base["recipients"] = []
    elif kind == 2:
        base["message"] = rng.randint(0, 10**9)
    elif kind == 3:
        base["api_key_secret"] = DEMO_SECRET_KEY  # unknown field, and a secret
        base["message"] = ""
    elif kind == 4:
        base.pop("event_id")
        base["message"] = None
    elif kind == 5:
        base["scheduled_at"] = "not a time"
    elif kind == 6:
        base["metadata"] = {"x" * 10: "y" * 5000, "phone": number}
    else:
        base["delivery"] = "exactly_once"
    return orjson.dumps(base)


def nested(depth: int) -> bytes:
    return b'{"event_id":"deep","message":"hi","recipients":["0241000001"],"metadata":' + (
        b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    )


def hostile_inputs(count: int, numbers: list[str], seed: int = 11) -> list[bytes]:
    """`count` inputs; `numbers` (local form) are real-looking recipients to embed."""
    rng = random.Random(seed)
    specials = [
        b"",
        b'{"event_id":"big","message":"' + b"A" * (10 * 1024 * 1024) + b'","recipients":[]}',
        b"[" * 100_000 + b"]" * 100_000,
        nested(5_000),
        b'{"event_id":"bad\xc3\x28","message":"hi","recipients":["0241000001"]}',
        b'{"event_id":"x\xff\xfe","message":"\xed\xa0\x80","recipients":["0241000002"]}',
        b"\xef\xbb\xbf{not json",
        b"null",
        b'{"event_id":"nan","message":NaN,"recipients":["0241000003"]}',
    ]
    out = list(specials)
    n_hyp = (count - len(out)) // 3
    out += hypothesis_values(n_hyp, seed)
    n_near = (count - len(out)) // 2
    out += [near_events(rng, i, rng.choice(numbers)) for i in range(n_near)]
    while len(out) < count:
        out.append(b"\xff" + rng.randbytes(rng.randint(0, 2000)))
    out = out[:count]
    # invalid by construction; checked here so the oracle itself is never wrong
    contract = Contract(ContractLimits.from_settings(Settings()))
    for raw in out:
        assert isinstance(contract.decode(raw, now=0.0), Rejection), raw[:200]
    return out
