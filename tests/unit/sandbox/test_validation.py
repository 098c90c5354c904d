from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.devkit.sandbox import validation as v
from service.devkit.sandbox.accounts import money, to_micro


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("233558544343", "233558544343"),
        ("+233558544343", "233558544343"),
        ("0558544343", None),
        ("558544343", None),
        ("2335585443430", None),
        ("+2330558544343", None),
        ("23355854434a", None),
        ("233 55854434", None),
        ("233\uff15\uff15" + "8544343", None),  # full-width digits pass str.isdigit
        ("+44791112345", None),
        (233558544343, None),
        (None, None),
    ],
)
def test_normalise_phone(raw: object, expected: str | None) -> None:
    assert v.normalise_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("233558544343", "23355****343"),
        ("0558544343", "055****343"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask(raw: str, masked: str) -> None:
    assert v.mask(raw) == masked


@given(st.text(min_size=8, max_size=40))
def test_mask_hides_at_least_four_and_stays_short(raw: str) -> None:
    shown = v.mask(raw)
    assert shown.count("*") >= 4
    assert len(shown) <= 20


def test_invalid_phone_message_is_masked() -> None:
    assert v.invalid_phone("0558544343") == "Invalid phone number: 055****343"


@pytest.mark.parametrize(
    ("length", "units"), [(1, 1), (160, 1), (161, 2), (320, 2), (321, 3), (500, 4)]
)
def test_units(length: int, units: int) -> None:
    assert v.units("a" * length) == units


def test_cost_example_from_api_text() -> None:
    # "A 320-character message to 10 recipients = 2 SMS units x 10 recipients = 20 units"
    assert v.units("x" * 320) * 10 * to_micro("0.03") == to_micro("0.60")


@pytest.mark.parametrize(
    ("micro", "text"),
    [
        (0, "0.00"),
        (2_500_000, "2.50"),
        (30_000, "0.03"),
        (35_000, "0.04"),
        (34_999, "0.03"),
        (1_000_000_000_000, "1000000.00"),
        (-30_000, "-0.03"),
    ],
)
def test_money(micro: int, text: str) -> None:
    assert money(micro) == text


def test_to_micro_rejects_junk() -> None:
    with pytest.raises(ValueError, match="not an amount"):
        to_micro("ten")
    with pytest.raises(ValueError, match="not an amount"):
        to_micro("NaN")


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("1", True),
        (0, False),
        ("maybe", None),
        (None, None),
        (2, None),
        ([], None),
    ],
)
def test_parse_bool(raw: object, parsed: bool | None) -> None:
    assert v.parse_bool(raw) is parsed


def test_parse_datetime() -> None:
    expected = datetime(2024, 1, 20, 14, 30, tzinfo=UTC).timestamp()
    assert v.parse_datetime("2024-01-20T14:30:00Z") == expected
    assert v.parse_datetime("2024-01-20T14:30:00") == expected  # naive: UTC (Accra)
    assert v.parse_datetime("2024-01-20T15:30:00+01:00") == expected
    assert v.parse_datetime("20/01/2024") is None
    assert v.parse_datetime(1705761000) is None


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("12", 12),
        (" 3 ", 3),
        ("-1", -1),
        ("1.5", None),
        ("--1", None),
        (True, None),
        (7, 7),
        ("", None),
    ],
)
def test_parse_int(raw: object, parsed: int | None) -> None:
    assert v.parse_int(raw) == parsed


def test_template_variables_and_render() -> None:
    template = "Hi {name}, your order {order_id} for GHS {amount} is ready for pickup! {name}"
    assert v.template_variables(template) == ["name", "order_id", "amount"]
    row = {"contact": "233558544343", "name": "John Doe", "order_id": "ORD123", "amount": "150.00"}
    assert v.render(template, row) == (
        "Hi John Doe, your order ORD123 for GHS 150.00 is ready for pickup! John Doe"
    )


def test_render_cannot_reach_attributes() -> None:
    assert v.template_variables("{name.__class__} {0}") == ["0"]
    assert v.render("{name.__class__}", {"name": "x"}) == "{name.__class__}"
