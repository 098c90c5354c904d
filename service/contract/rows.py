"""Template rows: each contact normalised, each row rendered and checked, duplicates removed."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from operator import itemgetter

from service.contract.masking import mask_phone
from service.contract.model import FieldError, RejectedRecipient
from service.contract.normalise import MAX_MESSAGE_CHARS, VARIABLE, check_message, renderer
from service.contract.phones import normalise_accepted, normalise_phone

Decision = tuple[str, None] | tuple[None, str]


def _decide_contacts(contacts: list[str]) -> Iterable[Decision]:
    """Each contact's `normalise_phone` answer; the whole column at once when it can be."""
    accepted = normalise_accepted(contacts)
    if accepted is not None:
        return zip(accepted, repeat(None))
    return map(normalise_phone, contacts)


def normalise_rows(
    template: str, variables: list[str], items: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[str], list[RejectedRecipient], int, list[FieldError]]:
    """Kept rows (contact normalised), their texts, rejected contacts, duplicates, errors.

    A bad contact drops its row; a missing variable or an unsendable rendering rejects
    the event, because dropping a customer's message for its content is not the
    producer's intent.
    """
    rows: list[dict[str, str]] = []
    texts: list[str] = []
    rejected: list[RejectedRecipient] = []
    errors: list[FieldError] = []
    seen: set[object] = set()
    duplicates = 0
    render = renderer(template)
    # Only a template whose own text is all whitespace can render a blank message.
    may_be_blank = not VARIABLE.sub("", template).strip()
    # A row's identity, equal exactly when the rows are equal whatever the key order: for a
    # row of the contact and the template's variables alone, the contact and their values
    # (a tuple); for a row with other keys too, all its items (a frozenset, never equal to
    # a tuple).
    plain_size = len({"contact", *variables})
    values = itemgetter(*variables) if variables else None
    decisions = _decide_contacts([row["contact"] for row in items])
    for index, (row, (number, reason)) in enumerate(zip(items, decisions, strict=True)):
        if number is None:
            rejected.append(
                RejectedRecipient(f"/rows/{index}/contact", mask_phone(row["contact"]), str(reason))
            )
            continue
        normalised = {**row, "contact": number}
        try:
            text = render(normalised)
        except KeyError:  # a variable the row has no value for
            errors.extend(_missing(index, variables, row))
            continue
        if len(text) > MAX_MESSAGE_CHARS or (may_be_blank and not text.strip()):
            problem = check_message(text, f"/rows/{index}")
            assert problem is not None
            errors.append(
                FieldError(
                    problem.path,
                    f"rendered_{problem.code}",
                    f"rendered message {problem.message}",
                )
            )
            continue
        if len(normalised) == plain_size:
            key: object = (number, values(normalised)) if values else number
        else:
            key = frozenset(normalised.items())
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(normalised)
        texts.append(text)
    return rows, texts, rejected, duplicates, errors


def _missing(index: int, variables: list[str], row: dict[str, str]) -> Iterable[FieldError]:
    return (
        FieldError(f"/rows/{index}/{name}", "missing_variable", f"has no value for {{{name}}}")
        for name in variables
        if name not in row
    )
