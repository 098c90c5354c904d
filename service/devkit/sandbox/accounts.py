"""Businesses, their keys, balances and sender ids; money as integers.

Demo account (documented; the demo, the tests and the README use these):

    business id 1, "Demo Business"
    DEMO_PUBLIC_KEY = "pk_demo_pushr_relay", DEMO_SECRET_KEY = "sk_demo_pushr_relay"
    balance 1,000,000.00 GHS, 0.03 GHS per SMS unit
    approved sender ids ["PYWE", "PushR"], pending ["PENDING1"]
    user DEMO_USERNAME = "demo", DEMO_PASSWORD = "demo-password" (JWTs for the status list)

A second business (id 2, "Small Business", user `small` / `small-password`) has a balance
of 1.00 GHS so that tests can reach "Insufficient balance" in a few sends. A third (id 3,
"Parcels", keys `pk_parcels_pushr_relay` / `sk_parcels_pushr_relay`, sender id `PARCELS`,
user `parcels` / `parcels-password`) is a second well-funded account, for relays that send
for several accounts.
"""

from __future__ import annotations

import copy
import hmac
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

DEMO_BUSINESS_ID = 1
DEMO_PUBLIC_KEY = "pk_demo_pushr_relay"
DEMO_SECRET_KEY = "sk_demo_pushr_relay"  # noqa: S105 - documented demo key, sandbox only
SMALL_BUSINESS_ID = 2
SMALL_PUBLIC_KEY = "pk_small_pushr_relay"
SMALL_SECRET_KEY = "sk_small_pushr_relay"  # noqa: S105 - documented demo key
PARCELS_BUSINESS_ID = 3
PARCELS_PUBLIC_KEY = "pk_parcels_pushr_relay"
PARCELS_SECRET_KEY = "sk_parcels_pushr_relay"  # noqa: S105 - documented demo key
PARCELS_USERNAME = "parcels"
PARCELS_PASSWORD = "parcels-password"  # noqa: S105 - documented demo user
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo user, sandbox only
SMALL_USERNAME = "small"
SMALL_PASSWORD = "small-password"  # noqa: S105 - documented demo user

# Money is held in micro-cedis so the hot path adds and compares ints; Decimal only at the edges.
MICRO = 1_000_000


def to_micro(value: str | int | float | Decimal) -> int:
    """Parse a GHS amount ("12.50", 12.5) into micro-cedis."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return int((amount * MICRO).to_integral_value(rounding=ROUND_HALF_UP))


def money(micro: int) -> str:
    """Render micro-cedis the way Push.R renders `cost`: two decimals, half up ("2.50")."""
    sign = "-" if micro < 0 else ""
    cents = (abs(micro) + 5_000) // 10_000
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@dataclass(slots=True)
class Business:
    id: int
    name: str
    public_key: str
    secret_key: str
    balance: int  # micro-cedis
    price_per_unit: int  # micro-cedis per 160-character unit per recipient
    approved_sender_ids: list[str] = field(default_factory=list)
    pending_sender_ids: list[str] = field(default_factory=list)
    active: bool = True
    username: str | None = None  # the business's user, for obtaining JWTs
    password: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Business:
        return cls(
            id=int(raw["id"]),
            name=str(raw.get("name", f"Business {raw['id']}")),
            public_key=str(raw["public_key"]),
            secret_key=str(raw["secret_key"]),
            balance=to_micro(raw.get("balance", "0")),
            price_per_unit=to_micro(raw.get("price_per_unit", "0.03")),
            approved_sender_ids=[str(s) for s in raw.get("approved_sender_ids", [])],
            pending_sender_ids=[str(s) for s in raw.get("pending_sender_ids", [])],
            active=bool(raw.get("active", True)),
            username=None if raw.get("username") is None else str(raw["username"]),
            password=None if raw.get("password") is None else str(raw["password"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "public_key": self.public_key,
            "balance": money(self.balance),
            "price_per_unit": str(Decimal(self.price_per_unit) / MICRO),
            "approved_sender_ids": list(self.approved_sender_ids),
            "pending_sender_ids": list(self.pending_sender_ids),
            "active": self.active,
            "username": self.username,
        }


def default_businesses() -> list[Business]:
    return [
        Business(
            id=DEMO_BUSINESS_ID,
            name="Demo Business",
            public_key=DEMO_PUBLIC_KEY,
            secret_key=DEMO_SECRET_KEY,
            balance=to_micro("1000000.00"),
            price_per_unit=to_micro("0.03"),
            approved_sender_ids=["PYWE", "PushR"],
            pending_sender_ids=["PENDING1"],
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
        ),
        Business(
            id=SMALL_BUSINESS_ID,
            name="Small Business",
            public_key=SMALL_PUBLIC_KEY,
            secret_key=SMALL_SECRET_KEY,
            balance=to_micro("1.00"),
            price_per_unit=to_micro("0.03"),
            approved_sender_ids=["SMALL"],
            username=SMALL_USERNAME,
            password=SMALL_PASSWORD,
        ),
        Business(
            id=PARCELS_BUSINESS_ID,
            name="Parcels",
            public_key=PARCELS_PUBLIC_KEY,
            secret_key=PARCELS_SECRET_KEY,
            balance=to_micro("1000000.00"),
            price_per_unit=to_micro("0.03"),
            approved_sender_ids=["PARCELS"],
            username=PARCELS_USERNAME,
            password=PARCELS_PASSWORD,
        ),
    ]


class AccountStore:
    """All businesses, looked up by id or by the (public, secret) key pair."""

    def __init__(self, businesses: list[Business]) -> None:
        self._initial = copy.deepcopy(businesses)
        self.by_id: dict[int, Business] = {}
        self._by_keys: dict[tuple[str, str], Business] = {}
        self.reset()

    def reset(self) -> None:
        self.by_id = {b.id: b for b in copy.deepcopy(self._initial)}
        self._by_keys = {(b.public_key, b.secret_key): b for b in self.by_id.values()}

    def add(self, business: Business) -> None:
        old = self.by_id.get(business.id)
        if old is not None:
            self._by_keys.pop((old.public_key, old.secret_key), None)
        self.by_id[business.id] = business
        self._by_keys[(business.public_key, business.secret_key)] = business

    def authenticate(self, public_key: object, secret_key: object) -> Business | None:
        """The active business owning both keys, or None (wrong, mismatched or inactive)."""
        if type(public_key) is not str or type(secret_key) is not str:
            return None
        business = self._by_keys.get((public_key, secret_key))
        if business is None or not business.active:
            return None
        return business

    def login(self, username: object, password: object) -> Business | None:
        """The active business whose user has these credentials, or None."""
        if type(username) is not str or type(password) is not str:
            return None
        for business in self.by_id.values():
            if business.username == username and business.active:
                matches = business.password is not None and hmac.compare_digest(
                    business.password.encode(), password.encode()
                )
                return business if matches else None
        return None

    def get(self, business_id: int) -> Business | None:
        return self.by_id.get(business_id)

    def require(self, business_id: int) -> Business:
        business = self.by_id.get(business_id)
        if business is None:
            raise KeyError(f"unknown business {business_id}")
        return business

    def set_balance(self, business_id: int, amount: str | int | float | Decimal) -> str:
        business = self.require(business_id)
        business.balance = to_micro(amount)
        return money(business.balance)

    def top_up(self, business_id: int, amount: str | int | float | Decimal) -> str:
        business = self.require(business_id)
        business.balance += to_micro(amount)
        return money(business.balance)

    def balance(self, business_id: int) -> str:
        return money(self.require(business_id).balance)


def merge_businesses(overrides: list[dict[str, Any]]) -> list[Business]:
    """The defaults with configured businesses added or replaced by id."""
    merged = {b.id: b for b in default_businesses()}
    for raw in overrides:
        business = Business.from_dict(raw)
        merged[business.id] = business
    return sorted(merged.values(), key=lambda b: b.id)
