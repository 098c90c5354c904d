import json
from pathlib import Path

import pytest

from service.devkit.sandbox import cli
from service.devkit.sandbox.accounts import AccountStore, merge_businesses
from service.devkit.sandbox.config import SandboxConfig


def test_config_file_with_flags_on_top(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "id": 3,
                        "public_key": "pk3",
                        "secret_key": "sk3",
                        "balance": "5",
                        "approved_sender_ids": ["SHOP"],
                    }
                ],
                "faults": {"error_rates": {"500": 0.1}, "late_delay_s": 3},
                "lifecycle": {"final_after_s": 9},
                "seed": 4,
                "page_size": 5,
            }
        )
    )
    args = cli.parser().parse_args(
        [
            "--config",
            str(path),
            "--error-rate",
            "503=0.2",
            "--latency-ms",
            "uniform:1:2",
            "--outage",
            "10:2",
            "--late-rate",
            "0.05",
            "--rate-limit",
            "100",
            "--fault-endpoints",
            "send-sms",
            "--sent-after-s",
            "1",
            "--failed-rate",
            "0.5",
        ]
    )
    config = cli.build_config(args)
    assert config.seed == 4
    assert config.page_size == 5
    assert config.faults.error_rates == {500: 0.1, 503: 0.2}
    assert config.faults.late_delay_s == 3
    assert config.faults.late_rate == 0.05
    assert config.faults.rate_limit_rps == 100
    assert config.faults.endpoints == {"send-sms"}
    assert config.faults.outages[0].start_s == 10
    assert config.lifecycle.sent_after_s == 1
    assert config.lifecycle.final_after_s == 9
    assert config.lifecycle.outcomes == {"delivered": 0.5, "failed": 0.5}
    accounts = AccountStore(merge_businesses(config.accounts))
    assert sorted(accounts.by_id) == [1, 2, 3]
    shop = accounts.authenticate("pk3", "sk3")
    assert shop is not None
    assert shop.approved_sender_ids == ["SHOP"]


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown config keys"):
        SandboxConfig.from_dict({"fautls": {}})


def test_cli_reports_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"faults": {"error_rates": {"418": 1}}}))
    assert cli.cli_main(["--config", str(path)]) == 2
    assert "418" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--error-rate", "503"])


def test_accounts_balance_operations() -> None:
    accounts = AccountStore(merge_businesses([]))
    assert accounts.balance(1) == "1000000.00"
    assert accounts.set_balance(2, "0.05") == "0.05"
    assert accounts.top_up(2, 1) == "1.05"
    accounts.reset()
    assert accounts.balance(2) == "1.00"
    assert accounts.authenticate("pk_demo_pushr_relay", "sk_small_pushr_relay") is None
    assert accounts.authenticate(None, None) is None
