"""From the settings (and the accounts file they name) to the accounts the relay sends for.

Without `PUSHR_RELAY_ACCOUNTS_FILE` there is one account, `default`, made of the
single-account settings exactly as before. With a file, its accounts are added; the
single-account keys, when set, remain the `default` account (a `default` entry in the file
may then add budgets or limits but not a second pair of keys).

Each account gets its own copy of the settings with its keys, business, status-list
credentials and rate limit in the single-account fields, so every part built from settings
(client, credentials, poller) serves one account unchanged. Problems end start-up with one
line each, naming the file and the place in it, never a value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from service.accounts.model import (
    DEFAULT_ACCOUNT,
    AccountEntry,
    AccountsFile,
    BlastRadius,
    Budgets,
)
from service.configuration import ConfigurationError
from service.contract.model import ContractLimits
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class AccountConfig:
    name: str
    settings: Settings  # the relay's settings with this account's keys, business, limits
    sender_ids: frozenset[str]  # empty = any
    budgets: Budgets
    blast: BlastRadius | None  # None = the guard is off for this account
    unit_price_ghs: Decimal | None

    @property
    def status_polling(self) -> bool:
        s = self.settings
        jwt = s.pushr_jwt is not None or s.pushr_jwt_file is not None or s.pushr_username
        return bool(jwt) and s.pushr_business_id is not None


def load_accounts(settings: Settings) -> list[AccountConfig]:
    if settings.accounts_file is None:
        return [_default_from_env(settings, AccountEntry())]
    entries = read_accounts_file(settings)
    problems: list[str] = []
    env_keys = bool(settings.pushr_api_key_public.get_secret_value())
    default = entries.pop(DEFAULT_ACCOUNT, None)
    accounts: list[AccountConfig] = []
    if default is not None and default.api_key_public is not None and env_keys:
        problems.append(
            f"accounts.{DEFAULT_ACCOUNT}: names API keys while PUSHR_RELAY_PUSHR_API_KEY_PUBLIC "
            "is set too; keep one"
        )
    elif default is not None or env_keys:
        accounts.append(_default_from_env(settings, default or AccountEntry()))
    for name, entry in entries.items():
        if entry.api_key_public is None:
            problems.append(f"accounts.{name}: api_key_public and api_key_secret are required")
            continue
        accounts.append(_account(name, settings, entry))
    seen: dict[str, str] = {}
    for account in accounts:
        public = account.settings.pushr_api_key_public.get_secret_value()
        if public in seen:
            problems.append(
                f"accounts.{account.name}: has the same API key as {seen[public]}; one Push.R "
                "account under two names would double its budgets"
            )
        seen[public] = account.name
    if problems:
        raise ConfigurationError(_lines(settings, problems))
    return accounts


def account_secrets(settings: Settings) -> list[str]:
    """The accounts file's keys, tokens and passwords: values no log line may contain. An
    unusable file yields none here; start-up reports it."""
    if settings.accounts_file is None:
        return []
    try:
        entries = read_accounts_file(settings)
    except ConfigurationError:
        return []
    found = []
    for entry in entries.values():
        for secret in (entry.api_key_public, entry.api_key_secret, entry.jwt, entry.password):
            if secret is not None and secret.get_secret_value():
                found.append(secret.get_secret_value())
    return found


def read_accounts_file(settings: Settings) -> dict[str, AccountEntry]:
    path = settings.accounts_file
    assert path is not None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"PUSHR_RELAY_ACCOUNTS_FILE: cannot read {path}: {exc.strerror or exc}"
        ) from None
    try:
        document: Any = orjson.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigurationError(f"accounts file {path}: not valid YAML or JSON{line}") from None
    try:
        return dict(AccountsFile.model_validate(document).accounts)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False, include_context=False):
            place = ".".join(str(part) for part in error["loc"]) or "the document"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{place}: {message}")
        raise ConfigurationError(_lines(settings, problems)) from None


def _lines(settings: Settings, problems: list[str]) -> str:
    return "\n".join(f"accounts file {settings.accounts_file}: {p}" for p in problems)


def _blast(settings: Settings, entry: AccountEntry) -> BlastRadius | None:
    if entry.blast_radius in ("off", False):
        return None
    if isinstance(entry.blast_radius, BlastRadius):
        return entry.blast_radius
    if settings.blast_radius_recipients == 0:
        return None
    return BlastRadius(
        recipients=settings.blast_radius_recipients, minutes=settings.blast_radius_minutes
    )


def _default_from_env(settings: Settings, entry: AccountEntry) -> AccountConfig:
    update: dict[str, Any] = {}
    if entry.rate_limit_rps is not None:
        update["rate_limit_rps"] = entry.rate_limit_rps
    if entry.business_id is not None:
        update["pushr_business_id"] = entry.business_id
    if entry.status_credentials():
        update.update(_jwt_fields(entry))
    senders = frozenset(entry.sender_ids) or frozenset(settings.sender_id_allowlist)
    return AccountConfig(
        name=DEFAULT_ACCOUNT,
        settings=settings.model_copy(update=update) if update else settings,
        sender_ids=senders,
        budgets=entry.budgets,
        blast=_blast(settings, entry),
        unit_price_ghs=entry.unit_price_ghs,
    )


def _jwt_fields(entry: AccountEntry) -> dict[str, Any]:
    return {
        "pushr_jwt": entry.jwt,
        "pushr_jwt_file": entry.jwt_file,
        "pushr_username": entry.username,
        "pushr_password": entry.password,
    }


def _account(name: str, settings: Settings, entry: AccountEntry) -> AccountConfig:
    update: dict[str, Any] = {
        "pushr_api_key_public": entry.api_key_public,
        "pushr_api_key_secret": entry.api_key_secret,
        "pushr_business_id": entry.business_id,
        "sender_id_allowlist": list(entry.sender_ids),
        # its own Redis keys for the shared rate limit and the status poller
        "ledger_key_prefix": f"{settings.ledger_key_prefix}account:{name}:",
        **_jwt_fields(entry),
    }
    if entry.rate_limit_rps is not None:
        update["rate_limit_rps"] = entry.rate_limit_rps
    return AccountConfig(
        name=name,
        settings=settings.model_copy(update=update),
        sender_ids=frozenset(entry.sender_ids),
        budgets=entry.budgets,
        blast=_blast(settings, entry),
        unit_price_ghs=entry.unit_price_ghs,
    )


def contract_limits(settings: Settings, configs: list[AccountConfig]) -> ContractLimits:
    """Without an accounts file, exactly the single-account limits; with one, each account
    with its own allowed sender ids, and any other account name refused."""
    limits = ContractLimits.from_settings(settings)
    if settings.accounts_file is None:
        return limits
    return dataclasses.replace(limits, account_senders={c.name: c.sender_ids for c in configs})
