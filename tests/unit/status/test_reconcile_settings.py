"""When reconciliation is on, and the one setting combination that cannot work."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from service.clock import ManualClock
from service.configuration import ConfigurationError
from service.settings import Settings
from service.status.builders import reconciliation_enabled
from tests.unit.pushr.simplejwt_fake import jwt_shaped
from tests.unit.status.test_reconciler import make_rig


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pushr_jwt": SecretStr("eyJ.unit.jwt"),
        "pushr_business_id": 7,
        **overrides,
    }
    return Settings.model_validate(values)


def test_on_with_a_list_token_and_a_business() -> None:
    assert reconciliation_enabled(settings())


@pytest.mark.parametrize(
    "overrides",
    [{"pushr_jwt": None}, {"pushr_business_id": None}, {"reconcile": False}],
    ids=["no-token", "no-business", "turned-off"],
)
def test_off_without_what_it_needs_or_when_turned_off(overrides: dict[str, Any]) -> None:
    assert not reconciliation_enabled(settings(**overrides))


def test_a_settle_time_within_the_skew_is_refused_in_one_line() -> None:
    # a claim made after a verdict could then own an entry the verdict paired
    with pytest.raises(ConfigurationError) as refused:
        reconciliation_enabled(
            settings(reconcile_settle_seconds=2.0, reconcile_clock_skew_seconds=2.0)
        )
    message = str(refused.value)
    assert "PUSHR_RELAY_RECONCILE_SETTLE_SECONDS" in message
    assert "PUSHR_RELAY_RECONCILE_CLOCK_SKEW_SECONDS" in message
    assert "\n" not in message
    # without a token it is off anyway: nothing to refuse
    assert not reconciliation_enabled(
        settings(pushr_jwt=None, reconcile_settle_seconds=1.0, reconcile_clock_skew_seconds=5.0)
    )


@pytest.mark.parametrize(
    ("way", "says"),
    [
        ({"exp": 300}, True),
        ({"sub": "no expiry"}, False),
        (None, False),
    ],
    ids=["static-token-with-exp", "static-token-without-exp", "user-and-password"],
)
def test_a_static_list_token_that_will_lapse_is_said_once_at_start(
    way: dict[str, Any] | None, says: bool
) -> None:
    # a static token is never renewed: once it expires no pending batch is judged again
    if way is None:
        overrides: dict[str, Any] = {
            "pushr_jwt": None,
            "pushr_username": "relay",
            "pushr_password": SecretStr("correct-horse-battery"),
        }
    else:
        claims = dict(way)
        if "exp" in claims:
            claims["exp"] = ManualClock().now() + claims["exp"]
        overrides = {"pushr_jwt": SecretStr(jwt_shaped(claims))}
    with capture_logs() as logs:
        make_rig(**overrides)
    said = [line for line in logs if line["event"] == "reconciliation_token_expires"]
    assert len(said) == (1 if says else 0)
    if says:
        assert said[0]["in_seconds"] == 300
        assert "PUSHR_RELAY_PUSHR_USERNAME" in said[0]["instead"]
        assert all("eyJ" not in str(value) for value in said[0].values())
