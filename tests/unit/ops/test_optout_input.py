"""`pushr-relay optout import` reads CSV exports and plain lists alike."""

from __future__ import annotations

from service.contract.consent import BadNumber, OptOut
from service.ops.optout import entries_from_file, records


def test_a_plain_list() -> None:
    entries = entries_from_file("0558544343\n\n+233 24 876 9324\n")
    assert [(e.line, e.raw) for e in entries] == [(1, "0558544343"), (3, "+233 24 876 9324")]


def test_a_csv_with_a_named_number_column() -> None:
    entries = entries_from_file("name,Phone,city\nAma,0558544343,Accra\nKofi,,Kumasi\n")
    assert [(e.line, e.raw) for e in entries] == [(2, "0558544343")]


def test_a_csv_with_an_unknown_header_uses_its_first_column() -> None:
    entries = entries_from_file("Customer Number,name\n0558544343,Ama\n")
    assert [e.raw for e in entries] == ["0558544343"]


def test_records_keep_the_good_and_name_the_bad() -> None:
    made = records(
        entries_from_file("0558544343\n0302123456\n"),
        opted_out=True,
        scope="all",
        source="import",
        now=1_800_000_000.0,
    )
    good, bad = made[0][1], made[1][1]
    assert isinstance(good, OptOut)
    assert good.number == "233558544343"
    assert isinstance(bad, BadNumber)
    assert bad.reason == "not_mobile"
    assert "302123456" not in bad.masked
