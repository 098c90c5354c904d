"""The sandbox's start-up configuration, from a JSON file and/or CLI flags.

    {
      "accounts": [{"id": 3, "name": "Shop", "public_key": "pk", "secret_key": "sk",
                    "balance": "50.00", "price_per_unit": "0.03",
                    "approved_sender_ids": ["SHOP"], "pending_sender_ids": [],
                    "active": true}],
      "faults": {...},            # see faults.py
      "lifecycle": {"sent_after_s": 0, "final_after_s": 2,
                    "outcomes": {"delivered": 0.97, "failed": 0.02, "partial_failed": 0.01},
                    "fail_recipients": ["233200000001"]},
      "seed": 42,                 # fault and outcome draws; null: a random seed
      "jwt_secret": "...", "page_size": 10,
      "list_lag_s": 0,            # a processed request shows in the list this long after
                                  # its `created` (an eventually consistent list)
      "retention": 100000,        # messages kept per business for the list (2x at peak)
      "ring_size": 10000          # recent request records kept
    }

Accounts are merged with the built-in demo businesses by id (same id: replaced).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.devkit.sandbox import jwt
from service.devkit.sandbox.faults import FaultConfig
from service.devkit.sandbox.lifecycle import LifecycleConfig


@dataclass(slots=True)
class SandboxConfig:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    faults: FaultConfig = field(default_factory=FaultConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    seed: int | None = None
    jwt_secret: str = jwt.DEFAULT_SECRET
    page_size: int = 10
    list_lag_s: float = 0.0
    retention: int = 100_000
    ring_size: int = 10_000

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SandboxConfig:
        known = set(cls.__dataclass_fields__)
        extra = set(raw) - known
        if extra:
            raise ValueError(f"unknown config keys {sorted(extra)}; known: {sorted(known)}")
        base = cls()
        accounts = raw.get("accounts", [])
        if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
            raise ValueError("accounts: a list of objects")
        seed = raw.get("seed")
        return cls(
            accounts=accounts,
            faults=FaultConfig.from_dict(raw.get("faults") or {}),
            lifecycle=LifecycleConfig.from_dict(raw.get("lifecycle") or {}),
            seed=None if seed is None else int(seed),
            jwt_secret=str(raw.get("jwt_secret", base.jwt_secret)),
            page_size=int(raw.get("page_size", base.page_size)),
            list_lag_s=float(raw.get("list_lag_s", base.list_lag_s)),
            retention=int(raw.get("retention", base.retention)),
            ring_size=int(raw.get("ring_size", base.ring_size)),
        )

    @classmethod
    def load(cls, path: str | Path) -> SandboxConfig:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise TypeError(f"{path}: expected a JSON object")
        return cls.from_dict(raw)
