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
      "access_token_ttl_s": 300,  # simplejwt's defaults: 5 minutes, and 1 day for refresh
      "refresh_token_ttl_s": 86400,
      "tls_cert_file": "server.crt", "tls_key_file": "server.key",   # serve HTTPS
      "tls_client_ca_file": "ca.crt",   # and require client certificates this CA signed
      "retention": 100000,        # messages kept per business for the list (2x at peak)
      "ring_size": 10000          # recent request records kept
    }

Accounts are merged with the built-in demo businesses by id (same id: replaced).
"""

from __future__ import annotations

import json
import ssl
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
    access_token_ttl_s: float = jwt.ACCESS_TTL_S
    refresh_token_ttl_s: float = jwt.REFRESH_TTL_S
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.access_token_ttl_s <= 0 or self.refresh_token_ttl_s <= 0:
            raise ValueError("token lifetimes must be > 0 seconds")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context, None for plain HTTP."""
        if self.tls_cert_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
            if self.tls_client_ca_file is not None:
                context.load_verify_locations(cafile=self.tls_client_ca_file)
                context.verify_mode = ssl.CERT_REQUIRED
        except OSError as exc:  # ssl.SSLError included
            files = ", ".join(f for f in (self.tls_cert_file, self.tls_key_file,
                                          self.tls_client_ca_file) if f)  # fmt: skip
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise ValueError(f"cannot load the TLS files {files}: {reason}") from None
        return context

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
            access_token_ttl_s=float(raw.get("access_token_ttl_s", base.access_token_ttl_s)),
            refresh_token_ttl_s=float(raw.get("refresh_token_ttl_s", base.refresh_token_ttl_s)),
            tls_cert_file=_optional_text(raw.get("tls_cert_file")),
            tls_key_file=_optional_text(raw.get("tls_key_file")),
            tls_client_ca_file=_optional_text(raw.get("tls_client_ca_file")),
        )

    @classmethod
    def load(cls, path: str | Path) -> SandboxConfig:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise TypeError(f"{path}: expected a JSON object")
        return cls.from_dict(raw)


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)
