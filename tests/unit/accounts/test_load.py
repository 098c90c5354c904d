"""The accounts file: the single-account settings stay the `default` account, and every
problem of the file is one line naming its place, never a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.accounts.load import account_secrets, load_accounts
from service.cli import main
from service.configuration import ConfigurationError
from service.settings import Settings

SECRET = "sk_live_never_printed"


def settings(**values: object) -> Settings:
    base = {"pushr_api_key_public": "pk_env", "pushr_api_key_secret": "sk_env"}
    return Settings.model_validate({**base, **values})


def write(tmp_path: Path, text: str, name: str = "accounts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_there_is_one_account_made_of_the_settings() -> None:
    s = settings(sender_id_allowlist="PYWE", blast_radius_recipients=500)
    (only,) = load_accounts(s)
    assert only.name == "default"
    assert only.settings is s
    assert only.sender_ids == frozenset({"PYWE"})
    assert only.blast is not None
    assert only.blast.recipients == 500


def test_a_file_adds_accounts_and_keeps_the_env_keys_as_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
accounts:
  parcels:
    api_key_public: pk_parcels
    api_key_secret: {SECRET}
    business_id: 3
    sender_ids: [PARCELS]
    rate_limit_rps: 4
    blast_radius: off
    budgets: {{policy: reject, hour: {{units: 100}}}}
""",
    )
    default, parcels = load_accounts(settings(accounts_file=path))
    assert default.name == "default"
    assert default.settings.pushr_api_key_public.get_secret_value() == "pk_env"
    assert parcels.settings.pushr_api_key_secret.get_secret_value() == SECRET
    assert parcels.settings.pushr_business_id == 3
    assert parcels.settings.rate_limit_rps == 4
    assert parcels.settings.ledger_key_prefix == "pushr-relay:ledger:account:parcels:"
    assert parcels.blast is None
    assert parcels.budgets.policy == "reject"
    assert SECRET in account_secrets(settings(accounts_file=path))


def test_json_works_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"accounts": {"a": {"api_key_public": "p", "api_key_secret": "s"}}}',
        "accounts.json",
    )
    names = [a.name for a in load_accounts(settings(accounts_file=path))]
    assert names == ["default", "a"]


def test_every_problem_is_one_line_naming_its_place_and_no_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
accounts:
  Bad Name: {{api_key_public: p, api_key_secret: s}}
  shop:
    api_key_public: pk_shop
    api_key_secret: {SECRET}
    budgets: {{hour: {{units: 0, ghs: 5}}}}
    colour: blue
""",
    )
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(settings(accounts_file=path))
    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"accounts file {path}: ") for line in lines)
    text = str(caught.value)
    assert "accounts.Bad Name.[key]: String should match pattern" in text
    assert "accounts.shop.budgets.hour.units: Input should be greater than or equal to 1" in text
    assert "accounts.shop.colour: Extra inputs are not permitted" in text
    assert SECRET not in text


def test_semantic_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
accounts:
  default: {api_key_public: pk_other, api_key_secret: sk_other}
  nokeys: {business_id: 4}
  twin: {api_key_public: pk_env, api_key_secret: sk_env}
""",
    )
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(settings(accounts_file=path))
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert "accounts.default: names API keys" in lines[0]
    assert "accounts.nokeys: api_key_public and api_key_secret are required" in lines[1]


def test_the_same_key_under_two_names_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts:\n  twin: {api_key_public: pk_env, api_key_secret: x}\n")
    with pytest.raises(ConfigurationError, match="twin: has the same API key as default"):
        load_accounts(settings(accounts_file=path))


def test_a_ghs_budget_needs_a_unit_price(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "accounts:\n  a: {api_key_public: p, api_key_secret: s, budgets: {day: {ghs: 5}}}\n",
    )
    with pytest.raises(ConfigurationError, match="needs unit_price_ghs"):
        load_accounts(settings(accounts_file=path))


def test_the_command_prints_one_line_per_problem_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "accounts:\n  a: {business_id: 1}\n  b: {business_id: 2}\n")
    monkeypatch.setenv("PUSHR_RELAY_ACCOUNTS_FILE", str(path))
    assert main(["run"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert all(line.startswith("pushr-relay: configuration error: accounts file") for line in err)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read") as caught:
        load_accounts(settings(accounts_file=tmp_path / "missing.yaml"))
    assert "\n" not in str(caught.value)


def test_validate_knows_the_accounts_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "accounts:\n  parcels: {api_key_public: p, api_key_secret: s, sender_ids: [PARCELS]}\n",
    )
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"event_id": "a", "account": "parcels", "message": "hi", "recipients": ["0558544343"],'
        ' "sender_id": "PARCELS"}\n'
        '{"event_id": "b", "account": "parcels", "message": "hi", "recipients": ["0558544343"],'
        ' "sender_id": "PYWE"}\n'
        '{"event_id": "c", "account": "shop", "message": "hi", "recipients": ["0558544343"]}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PUSHR_RELAY_ACCOUNTS_FILE", str(path))
    assert main(["validate", str(events)]) == 1
    answers = [line for line in capsys.readouterr().out.splitlines() if line]
    assert '"valid":true' in answers[0]
    assert '"reason":"sender_id_not_allowed"' in answers[1]
    assert '"reason":"unknown_account"' in answers[2]
