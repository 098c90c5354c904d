"""Properties over generated input: never raises, normalisation is a fixed point, outputs
are always Push.R's format and never carry a full number."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.contract import Accepted, Contract, ContractLimits, Rejection
from service.contract.dead_letter import build_dlq_record
from service.contract.masking import mask_numbers_in_text
from service.contract.schemas import DLQ_RECORD, schema_errors

NOW = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
CONTRACT = Contract(ContractLimits.defaults())
PUSHR_NUMBER = re.compile(r"233\d{9}")
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Ghana mobile national numbers from the mobile ranges, in the ways people write them.
nsn = st.one_of(
    st.tuples(
        st.sampled_from(
            ["20", "23", "24", "26", "27", "28", "29", "50", "53", "54", "55", "56", "57"]
        ),
        st.text("0123456789", min_size=7, max_size=7),
    ),
    st.tuples(
        st.sampled_from(["256", "257", *[f"59{d}" for d in range(1, 10)]]),
        st.text("0123456789", min_size=6, max_size=6),
    ),
).map("".join)


@st.composite
def written_number(draw: st.DrawFn) -> str:
    n = draw(nsn)
    forms = [
        f"0{n}",
        f"+233{n}",
        f"+233 {n[:2]} {n[2:5]} {n[5:]}",
        f"00233{n}",
        f"0{n[:2]}-{n[2:5]}-{n[5:]}",
        f"(0{n[:2]}) {n[2:5]} {n[5:]}",
        f"233{n}",
        n,
        f"+2330{n}",
    ]
    return draw(st.sampled_from(forms))


recipient = st.one_of(
    written_number(),
    st.text(max_size=16),
    st.sampled_from(
        ["0302123456", "+44 7911 123456", "0800100100", "0558544343 ext. 1", "055854434"]
    ),
)
timestamp = st.one_of(
    st.none(),
    # the whole calendar: offsets at its edges overflow when converted to UTC
    st.datetimes(
        timezones=st.sampled_from([UTC, *(timezone(timedelta(hours=h)) for h in (-12, 14))])
    ).map(lambda d: d.isoformat()),
    st.text(max_size=25),
)


@st.composite
def plain_event(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": draw(st.text("abcdef0123456789-", min_size=1, max_size=12)),
        "message": draw(st.text(min_size=1, max_size=200)),
        "recipients": draw(st.lists(recipient, min_size=1, max_size=8)),
    }
    for field in ("scheduled_at", "expires_at"):
        value = draw(timestamp)
        if value is not None:
            event[field] = value
    if draw(st.booleans()):
        event["sender_id"] = draw(st.text(max_size=12))
    if draw(st.booleans()):
        event["delivery"] = draw(st.sampled_from(["at_most_once", "at_least_once", None]))
    return event


@st.composite
def template_event(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["name", "code", "amount"]), max_size=3, unique=True))
    template = "Hi " + " ".join(f"{{{n}}}" for n in names) + draw(st.text(max_size=40))
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {"contact": recipient},
                optional={n: st.text(max_size=30) for n in names},
            ),
            min_size=1,
            max_size=6,
        )
    )
    return {"event_id": "t", "template": template, "sender_id": "PYWE", "rows": rows}


@PROPERTY
@given(st.binary(max_size=512))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(CONTRACT.decode(raw, now=NOW), Accepted | Rejection)


@PROPERTY
@given(json_values)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    # json, not orjson: hypothesis' integers go beyond 64 bits, which producers can send too
    assert isinstance(CONTRACT.decode(json.dumps(value).encode(), now=NOW), Accepted | Rejection)


@PROPERTY
@given(st.one_of(plain_event(), template_event()))
def test_normalisation_is_idempotent_and_recipients_are_pushr_numbers(
    event: dict[str, Any],
) -> None:
    result = CONTRACT.decode(orjson.dumps(event), now=NOW)
    if isinstance(result, Rejection):
        assert result.errors
        return
    assert all(PUSHR_NUMBER.fullmatch(r) for r in result.request.recipients)
    assert len(set(result.request.recipients)) == len(result.request.recipients) or (
        result.request.kind == "template"
    )
    again = CONTRACT.decode(orjson.dumps(result.request.to_json_dict()), now=NOW)
    assert isinstance(again, Accepted)
    assert again.request == result.request
    assert again.estimate == result.estimate
    assert again.rejected_recipients == []


@PROPERTY
@given(written_number())
def test_every_written_form_of_a_mobile_number_is_accepted(raw: str) -> None:
    result = CONTRACT.decode(
        orjson.dumps({"event_id": "p", "message": "m", "recipients": [raw]}), now=NOW
    )
    assert isinstance(result, Accepted)
    assert PUSHR_NUMBER.fullmatch(result.request.recipients[0])


NINE_DIGIT_RUN = re.compile(r"\d(?:[ \-.()/]{0,3}\d){8,}")


@PROPERTY
@given(st.text(alphabet=st.sampled_from("0123456789 +-()./ab"), max_size=60))
def test_masked_text_has_no_nine_digit_run(text: str) -> None:
    assert NINE_DIGIT_RUN.search(mask_numbers_in_text(text)) is None


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        plain_event().map(orjson.dumps),
    )
)
def test_every_rejection_makes_a_valid_dlq_record(raw: bytes) -> None:
    result = CONTRACT.decode(raw, now=NOW)
    if isinstance(result, Accepted):
        return
    record = build_dlq_record(
        raw, topic="t", partition=0, offset=1, timestamp_ms=0, rejection=result, now=NOW
    )
    assert schema_errors(DLQ_RECORD, record) == []
    for error in result.errors:
        assert NINE_DIGIT_RUN.search(error.path + error.message) is None
