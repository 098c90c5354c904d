"""A scripted Push.R behind httpx.MockTransport, for the reconciler's unit tests: send-sms
and custom answer (or fail) as scripted, and the list shows what was processed, with
`created` from the injected clock. The integration tests use the real sandbox."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson

from service.clock import Clock

BASE = "http://pushr.test/api/client"


@dataclass
class Message:
    id: int
    message: str
    sender_id: str
    recipients: tuple[str, ...]
    created: float


@dataclass
class FakePushr:
    """`script` decides each send in turn: ok (processed, answered), late (processed, the
    answer times out), reset (processed, the connection drops mid-answer), lost (never
    processed, times out); once it runs out, every send is ok."""

    clock: Clock
    script: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    page_size: int = 5
    omit_created: bool = False
    sends: int = 0

    def processed(self, message: str, recipients: tuple[str, ...], sender: str = "PYWE") -> int:
        """Record a message as Push.R would on processing a request; its id."""
        found = Message(len(self.messages) + 1, message.strip(), sender, recipients,
                        self.clock.now())  # fmt: skip
        self.messages.append(found)
        return found.id

    def count(self, message: str, recipient: str) -> int:
        """SMS accepted for (text, recipient): more than 1 is a duplicate."""
        return sum(1 for m in self.messages if m.message == message and recipient in m.recipients)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sms/"):
            return self._list(request)
        self.sends += 1
        kind = self.script.pop(0) if self.script else "ok"
        if request.url.path.endswith("/sms/custom"):
            processed = kind != "lost"
            answer: dict[str, Any] = {"recipients_count": 1, "status": "PROCESSING"}
        else:
            body = orjson.loads(request.content)
            recipients = tuple(body["recipients"])
            sender = body.get("sender_id") or "PYWE"
            processed = kind != "lost"
            answer = {}
            if processed:
                message_id = self.processed(body["message"], recipients, sender)
                answer = {"id": message_id, "status": "sent", "cost": "0.03"}
        if kind in ("late", "lost"):
            raise httpx.ReadTimeout("timed out", request=request)
        if kind == "reset":
            raise httpx.RemoteProtocolError("peer closed mid-answer", request=request)
        assert processed
        return httpx.Response(201, json=answer)

    def _list(self, request: httpx.Request) -> httpx.Response:
        page = int(parse_qs(request.url.query.decode()).get("page", ["1"])[0])
        newest = list(reversed(self.messages))
        chunk = newest[(page - 1) * self.page_size : page * self.page_size]
        more = page * self.page_size < len(newest)
        return httpx.Response(
            200,
            json={
                "data": [self._listed(m) for m in chunk],
                "count": len(newest),
                "next": f"{BASE}/sms/?business=7&page={page + 1}" if more else None,
                "previous": None,
            },
        )

    def _listed(self, m: Message) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": m.id,
            "message": m.message,
            "status": "sent",
            "cost": "0.03",
            "sender_id": m.sender_id,
            "recipients_count": len(m.recipients),
        }
        if not self.omit_created:
            item["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.created))
        return item
