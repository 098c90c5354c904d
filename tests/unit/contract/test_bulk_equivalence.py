"""The whole-list paths give what the one-by-one loops they replaced gave, on random input.

Recipients are checked against the general per-number path (`recipients_one_by_one`, the
fallback); each other reference below is the earlier per-item implementation, kept here as
the oracle: template rows (per-row contact, sorted
dedupe key), the cost estimate (one `count_segments` per text) and a template batch's CSV
(one `writerow` per row).
"""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from service.contract.masking import mask_phone
from service.contract.model import Estimate, FieldError, RejectedRecipient, SmsRequest
from service.contract.normalise import (
    check_message,
    estimate,
    estimate_rows,
    normalise_recipients,
    recipients_one_by_one,
    render,
    template_variables,
)
from service.contract.phones import normalise_phone
from service.contract.rows import normalise_rows
from service.contract.segments import count_segments, pushr_units
from service.pipeline.plan import plan_batches, template_columns

GOOD = ["0558544343", "233558544343", "+233558544343", "558544343", "0241234567", "0201234567"]
ODD = ["0302123456", "0800100100", " 0558544343", "0558544343\n", "055 854 4343", "233558544"]
ODD += ["", "abc", "+447911123456", "0558544343 ext 1", "٠٥٥٨٥٤٤٣٤٣", "05585443\n43"]
numbers = st.one_of(
    st.sampled_from(GOOD + ODD),
    st.builds(lambda n: f"055{n:07d}", st.integers(0, 30)),
    st.builds(lambda n: f"23324{n:07d}", st.integers(0, 30)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(numbers, min_size=1, max_size=40))
def test_recipients_as_one_by_one(items: list[str]) -> None:
    assert normalise_recipients(items) == recipients_one_by_one(items)


def test_an_all_valid_list_takes_the_whole_list_path() -> None:
    items = [f"055{n:07d}" for n in range(1000)] * 2
    kept, rejected, duplicates = normalise_recipients(items)
    assert (len(kept), rejected, duplicates) == (1000, [], 1000)
    assert kept[0] == "233550000000"


def rows_one_by_one(
    template: str, variables: list[str], items: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[str], list[RejectedRecipient], int, list[FieldError]]:
    rows: list[dict[str, str]] = []
    texts: list[str] = []
    rejected: list[RejectedRecipient] = []
    errors: list[FieldError] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    duplicates = 0
    for index, row in enumerate(items):
        number, reason = normalise_phone(row["contact"])
        if number is None:
            path = f"/rows/{index}/contact"
            rejected.append(RejectedRecipient(path, mask_phone(row["contact"]), str(reason)))
            continue
        missing = [name for name in variables if name not in row]
        if missing:
            errors.extend(
                FieldError(f"/rows/{index}/{n}", "missing_variable", f"has no value for {{{n}}}")
                for n in missing
            )
            continue
        normalised = {**row, "contact": number}
        text = render(template, normalised)
        problem = check_message(text, f"/rows/{index}")
        if problem is not None:
            errors.append(
                FieldError(
                    problem.path, f"rendered_{problem.code}", f"rendered message {problem.message}"
                )
            )
            continue
        key = tuple(sorted(normalised.items()))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(normalised)
        texts.append(text)
    return rows, texts, rejected, duplicates, errors


TEMPLATES = ["Hi {name}, {amount}% off", "{name}{name}", "no variables at all", "{amount}"]
values = st.sampled_from(["Ama", "", "  ", "x" * 480, "50%", "%s", "{name}", "Kofi é€"])
row_strategy = st.builds(
    lambda contact, name, amount, extra: (
        {"contact": contact, "name": name, "amount": amount} | extra
    ),
    numbers,
    values,
    values,
    st.dictionaries(st.sampled_from(["note", "contact"]), values, max_size=1),
)
rows_strategy = st.lists(row_strategy, min_size=1, max_size=12).map(
    # some rows lose a variable, so missing_variable errors are generated too
    lambda rows: [
        {k: v for k, v in row.items() if not (k == "amount" and i % 5 == 4)}
        for i, row in enumerate(rows)
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(TEMPLATES), rows_strategy)
def test_rows_as_one_by_one(template: str, items: list[dict[str, str]]) -> None:
    variables = template_variables(template)
    assert not isinstance(variables, FieldError)
    assert normalise_rows(template, variables, items) == rows_one_by_one(template, variables, items)


def estimate_one_by_one(pairs: list[tuple[str, int]]) -> tuple[Estimate, tuple[str, ...]]:
    units = segments = 0
    ucs2 = False
    non_gsm: dict[str, None] = {}
    for text, count in pairs:
        seg = count_segments(text)
        units += pushr_units(text) * count
        segments += seg.segments * count
        if seg.encoding == "UCS-2":
            ucs2 = True
            non_gsm.update(dict.fromkeys(seg.non_gsm))
    return Estimate(units, segments, "UCS-2" if ucs2 else "GSM-7"), tuple(non_gsm)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="ab {}€é😀", max_size=400) | st.sampled_from(["", "a" * 161]),
            st.integers(1, 5),
        ),
        max_size=8,
    )
)
def test_estimate_as_one_by_one(pairs: list[tuple[str, int]]) -> None:
    assert estimate(pairs) == estimate_one_by_one(pairs)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(alphabet="ab {}€é😀", min_size=1, max_size=400) | st.sampled_from(["a" * 161]),
        min_size=1,
        max_size=8,
    )
)
def test_rows_estimate_as_one_by_one(texts: list[str]) -> None:
    cost, non_gsm, row_units = estimate_rows(texts)
    assert (cost, non_gsm) == estimate_one_by_one([(text, 1) for text in texts])
    assert row_units == tuple(pushr_units(text) for text in texts)


def csv_one_by_one(template: str, rows: tuple[dict[str, str], ...]) -> bytes:
    columns = template_columns(template)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue().encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(TEMPLATES),
    st.lists(st.fixed_dictionaries({"name": values, "amount": values}), min_size=1, max_size=9),
)
def test_template_csv_as_one_by_one(template: str, cells: list[dict[str, str]]) -> None:
    rows = tuple({"contact": f"23355{i:07d}", **row} for i, row in enumerate(cells))
    request = SmsRequest(
        event_id="e-1",
        idempotency_key=None,
        kind="template",
        message=None,
        recipients=tuple(row["contact"] for row in rows),
        template=template,
        rows=rows,
        row_units=estimate_rows([render(template, row) for row in rows])[2],
        sender_id="PYWE",
        scheduled_at=None,
        expires_at=None,
        delivery="at_least_once",
        metadata=None,
        business=1,
    )
    batches = plan_batches(request, 4)
    assert b"".join(
        b.csv_bytes.split(b"\n", 1)[1] if b.index else b.csv_bytes
        for b in batches
        if b.csv_bytes is not None
    ) == csv_one_by_one(template, rows)
    assert sum(b.units for b in batches) == sum(pushr_units(render(template, row)) for row in rows)
