"""The accounts file: each Push.R account the relay sends for, with its keys and its limits.

    accounts:
      parcels:
        api_key_public: pk_...           # required (the `default` entry may take the env's)
        api_key_secret: sk_...
        business_id: 3                   # template sends and the status list
        username: parcels                # status list JWT: jwt | jwt_file | username+password
        password: ...
        sender_ids: [PARCELS]            # allowed sender ids; empty = any
        rate_limit_rps: 5                # default: PUSHR_RELAY_RATE_LIMIT_RPS
        unit_price_ghs: "0.03"           # needed by GHS budgets: the estimate before a send
        budgets:
          policy: hold                   # hold (default) | reject
          hour: {units: 2000, ghs: "60"}
          day: {units: 20000}
          senders: {PARCELS: {hour: {units: 500}}}
        blast_radius: {recipients: 10000, minutes: 10}   # or `off`

Validated with pydantic: every problem becomes one line naming its place in the file, never
the value given (it may be a key).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

DEFAULT_ACCOUNT: Final = "default"
WINDOWS: Final = ("hour", "day")
WINDOW_SECONDS: Final = {"hour": 3600, "day": 86400}
# An operator-chosen metric label and Redis key part: short, and nothing that needs escaping.
ACCOUNT_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

Policy = Literal["hold", "reject"]
Window = Literal["hour", "day"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Limit(_Strict):
    """One window's budget: SMS units and/or GHS; either may be left out (no limit)."""

    units: Annotated[int, Field(ge=1)] | None = None
    ghs: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] | None = None


def limit_caps(limit: Limit) -> dict[str, int]:
    """A limit's caps by metric measure: SMS units, and GHS in micro-cedis."""
    found: dict[str, int] = {}
    if limit.units is not None:
        found["units"] = limit.units
    if limit.ghs is not None:
        found["micro_ghs"] = int(limit.ghs * 1_000_000)
    return found


class WindowLimits(_Strict):
    hour: Limit | None = None
    day: Limit | None = None

    def limits(self) -> dict[str, Limit]:
        return {w: lim for w in WINDOWS if (lim := getattr(self, w)) is not None}


class Budgets(WindowLimits):
    policy: Policy = "hold"
    senders: dict[str, WindowLimits] = Field(default_factory=dict)


class BlastRadius(_Strict):
    """The same text to more than `recipients` numbers within `minutes`: held."""

    recipients: Annotated[int, Field(ge=1)]
    minutes: Annotated[int, Field(ge=1, le=1440)]


class AccountEntry(_Strict):
    api_key_public: SecretStr | None = None
    api_key_secret: SecretStr | None = None
    business_id: Annotated[int, Field(ge=1)] | None = None
    jwt: SecretStr | None = None
    jwt_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    sender_ids: list[Annotated[str, Field(min_length=1, max_length=11)]] = Field(
        default_factory=list
    )
    rate_limit_rps: Annotated[float, Field(ge=0)] | None = None
    unit_price_ghs: Annotated[Decimal, Field(gt=0, max_digits=8, decimal_places=4)] | None = None
    budgets: Budgets = Field(default_factory=Budgets)
    # `off` (YAML reads a bare off as false) turns the guard off for this account
    blast_radius: BlastRadius | Literal["off", False] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> AccountEntry:
        if (self.api_key_public is None) != (self.api_key_secret is None):
            raise ValueError("api_key_public and api_key_secret go together")
        ways = [self.jwt is not None, self.jwt_file is not None, self.username is not None]
        if sum(ways) > 1:
            raise ValueError("set one of jwt, jwt_file or username with password, not several")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        scopes = [self.budgets, *self.budgets.senders.values()]
        uses_ghs = any(lim.ghs is not None for s in scopes for lim in s.limits().values())
        if uses_ghs and self.unit_price_ghs is None:
            raise ValueError("a GHS budget needs unit_price_ghs, to estimate a batch's cost")
        return self

    def status_credentials(self) -> bool:
        return self.jwt is not None or self.jwt_file is not None or self.username is not None


AccountName = Annotated[str, StringConstraints(pattern=ACCOUNT_NAME.pattern)]


class AccountsFile(_Strict):
    accounts: dict[AccountName, AccountEntry]

    @field_validator("accounts")
    @classmethod
    def _some(cls, accounts: dict[str, AccountEntry]) -> dict[str, AccountEntry]:
        if not accounts:
            raise ValueError("names no account")
        return accounts
