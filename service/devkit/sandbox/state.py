"""Everything the endpoints share: accounts, messages, traffic, lifecycle, clock and rng."""

from __future__ import annotations

import random
import time
from typing import Any, NamedTuple

from service.clock import Clock
from service.devkit.sandbox import jwt
from service.devkit.sandbox.accounts import AccountStore, Business, money
from service.devkit.sandbox.lifecycle import LifecycleConfig, Message, MessageStore
from service.devkit.sandbox.traffic import Traffic


class Handled(NamedTuple):
    """An endpoint's answer plus what the traffic record needs to know about it."""

    response: bytes
    status: int
    outcome: str  # accepted | rejected | unauthorized | not_found
    business: int | None = None
    message_ids: tuple[int, ...] = ()
    recipients_count: int = 0


class SandboxState:
    def __init__(
        self,
        accounts: AccountStore,
        lifecycle: LifecycleConfig,
        clock: Clock,
        rng: random.Random,
        *,
        jwt_secret: str = jwt.DEFAULT_SECRET,
        page_size: int = 10,
        list_lag_s: float = 0.0,
        retention: int = 100_000,
        ring_size: int = 10_000,
        access_ttl_s: float = jwt.ACCESS_TTL_S,
        refresh_ttl_s: float = jwt.REFRESH_TTL_S,
    ) -> None:
        self.accounts = accounts
        self.lifecycle = lifecycle
        self.clock = clock
        self.rng = rng
        self.jwt_secret = jwt_secret
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self.scheme = "http"  # "https" when served over TLS (the list's `next` links use it)
        self.page_size = page_size
        self.list_lag_s = list_lag_s
        self.messages = MessageStore(retention)
        self.traffic = Traffic(ring_size)
        self._created_second = -1
        self._created_text = ""
        self._cost_texts: dict[int, str] = {}  # a few distinct costs, shared by every message

    def reset(self) -> None:
        self.accounts.reset()
        self.messages.reset()
        self.traffic.reset()

    def created_text(self, now: float) -> str:
        """`2024-01-15T10:30:00Z`, cached per second (formatting is the costly part)."""
        second = int(now)
        if second != self._created_second:
            self._created_second = second
            self._created_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._created_text

    def _cost_text(self, cost: int) -> str:
        text = self._cost_texts.get(cost)
        if text is None:
            text = money(cost)
            if len(self._cost_texts) < 10_000:
                self._cost_texts[cost] = text
        return text

    def accept(
        self,
        business: Business,
        text: str,
        sender_id: str,
        recipients: list[str],
        *,
        cost: int,
        now: float,
        due: float,
    ) -> Message:
        """Charge, store and count one accepted message (the caller checked the balance)."""
        business.balance -= cost
        message = Message(
            message_id=self.messages.take_id(),
            business=business.id,
            text=text,
            sender_id=sender_id,
            recipients_count=len(recipients),
            cost=self._cost_text(cost),
            created=now,
            created_text=self.created_text(now),
            due=due,
            lifecycle=self.lifecycle,
            outcome=self.lifecycle.draw(self.rng, recipients),
        )
        self.messages.add(message)
        count_send = self.traffic.count_send
        for recipient in recipients:
            count_send(text, recipient)
        return message

    # ---- JWT -----------------------------------------------------------------------------

    def issue_token(self, business_id: int, ttl_s: float | None = None) -> str:
        """An access token for the business's user; `ttl_s` None: the configured lifetime."""
        self.accounts.require(business_id)
        ttl = self.access_ttl_s if ttl_s is None else ttl_s
        return jwt.issue(business_id, self.jwt_secret, self.clock.now(), ttl)

    def issue_pair(self, business_id: int) -> dict[str, str]:
        """simplejwt's obtain answer: a refresh and an access token."""
        now = self.clock.now()
        return {
            "refresh": jwt.issue(business_id, self.jwt_secret, now, self.refresh_ttl_s, "refresh"),
            "access": jwt.issue(business_id, self.jwt_secret, now, self.access_ttl_s),
        }

    def refreshed(self, refresh: str) -> str:
        """A new access token for a valid refresh token; TokenError otherwise."""
        claims = jwt.decode(refresh, self.jwt_secret, self.clock.now(), kind="refresh")
        business = jwt.business_of(claims)
        found = self.accounts.get(business) if business is not None else None
        if found is None or not found.active:
            raise jwt.TokenError("no active user")  # simplejwt: the user is gone
        return self.issue_token(found.id)

    def token_business(self, token: str) -> int | None:
        """The business a valid access token is for, or None."""
        try:
            claims = jwt.decode(token, self.jwt_secret, self.clock.now())
        except jwt.TokenError:
            return None
        return jwt.business_of(claims)

    def describe(self) -> dict[str, Any]:
        return {
            "businesses": [b.to_dict() for b in self.accounts.by_id.values()],
            "lifecycle": self.lifecycle.to_dict(),
            "messages": {str(b): self.messages.count(b) for b in self.accounts.by_id},
        }
