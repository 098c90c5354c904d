"""Push.R's message list, one page at a time: `GET /sms/?business=ID` with a JWT.

Newest first, paginated (`count`, `next`, `previous`). Entries are kept only when they have
the fields the relay relies on (an integer id, a status); a page that is not shaped like
Push.R's answer fails the read, so a caller never mistakes a broken page for an empty list.
The other fields (message, sender id, recipients count, cost, created) are what the
reconciler matches on; each is None when absent or of another type, and the reconciler
refuses to judge by an entry that lacks one.

The JWT comes from `Credentials` (`service.pushr.credentials`), the seam every reader of
the list shares. A 401 renews it once and reads the page again (a token revoked early, or
Push.R's clock ahead of ours); a second 401, or credentials that cannot be renewed, fails
the read as `unauthorized`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service.pushr.client import PushrClient
from service.pushr.credentials import Credentials, CredentialsError
from service.pushr.outcomes import Outcome, ProviderResult


class ListReadError(Exception):
    """The list could not be read: `kind` is `unauthorized` or `error`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ListEntry:
    id: int
    status: str
    message: str | None = None
    sender_id: str | None = None
    recipients_count: int | None = None
    cost: str | None = None
    created: str | None = None  # as Push.R wrote it (its processing time)


@dataclass(frozen=True, slots=True)
class ListPage:
    entries: list[ListEntry]
    next_url: str | None  # None on the last page


class MessageListReader:
    def __init__(self, client: PushrClient, *, business: int, credentials: Credentials) -> None:
        self._client = client
        self._business = business
        self._credentials = credentials

    async def page(self, url: str | None = None) -> ListPage:
        """The first page, or the one a previous page's `next_url` points at."""
        token = await _token(self._credentials.token)
        result = await self._read(token, url)
        if result.outcome is Outcome.UNAUTHORIZED:
            renewed = await _token(lambda: self._credentials.renew(token))
            if renewed != token:
                result = await self._read(renewed, url)
        if result.outcome is Outcome.UNAUTHORIZED:
            raise ListReadError("unauthorized", result.detail or "status list refused the JWT")
        if result.outcome is not Outcome.ACCEPTED or result.body is None:
            raise ListReadError("error", result.detail or str(result.outcome))
        data = result.body.get("data")
        if not isinstance(data, list):
            raise ListReadError("error", "status list page without a data list")
        following = result.body.get("next")
        return ListPage(
            [entry for item in data if (entry := _entry(item)) is not None],
            following if isinstance(following, str) and following else None,
        )

    async def _read(self, token: str, url: str | None) -> ProviderResult:
        return await self._client.list_messages(business=self._business, jwt=token, url=url)


async def _token(get: Callable[[], Awaitable[str]]) -> str:
    try:
        return await get()
    except CredentialsError as failed:
        raise ListReadError(failed.kind, failed.detail) from None


def _entry(item: Any) -> ListEntry | None:
    if not isinstance(item, dict):
        return None
    message_id, status = item.get("id"), item.get("status")
    if not isinstance(message_id, int) or not isinstance(status, str):
        return None
    count = item.get("recipients_count")
    cost = item.get("cost")
    return ListEntry(
        message_id,
        status,
        message=_text(item.get("message")),
        sender_id=_text(item.get("sender_id")),
        recipients_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        cost=str(cost)
        if isinstance(cost, str | int | float) and not isinstance(cost, bool)
        else None,
        created=_text(item.get("created")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
