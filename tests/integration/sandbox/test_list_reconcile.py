"""What reconciliation relies on in the sandbox's list: a processed request is listed with
`created` at its processing time and no earlier than `list_lag_s` after it; hangs are never
listed, resets and late answers are; template rows are listed one message per row."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.clock import ManualClock
from service.devkit.sandbox import RunningSandbox, SandboxConfig
from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY

Body = Callable[..., dict[str, Any]]
Factory = Callable[..., RunningSandbox]


def listed(client: httpx.Client, sandbox: RunningSandbox) -> list[dict[str, Any]]:
    token = sandbox.issue_token(1)
    r = client.get(
        f"{sandbox.url}/sms/?business=1&page_size=100", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["data"]
    assert r.json()["count"] == len(items)
    return items


def test_the_list_lags_behind_processing_by_the_configured_time(
    client: httpx.Client, sandbox_factory: Factory, demo_send_body: Body
) -> None:
    clock = ManualClock()
    sandbox = sandbox_factory(SandboxConfig(seed=1, list_lag_s=3.0), clock=clock)
    first = client.post(f"{sandbox.url}/sms/send-sms", json=demo_send_body(message="one"))
    clock.advance(2)
    client.post(f"{sandbox.url}/sms/send-sms", json=demo_send_body(message="two"))
    assert listed(client, sandbox) == []
    clock.advance(1)
    (only,) = listed(client, sandbox)
    assert (only["id"], only["message"]) == (first.json()["id"], "one")
    assert only["created"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now() - 3))
    clock.advance(2)
    assert [m["message"] for m in listed(client, sandbox)] == ["two", "one"]
    assert sandbox.set_list_lag(0) == 0
    with pytest.raises(ValueError, match="lag"):
        sandbox.set_list_lag(-1)


def test_admin_sets_the_lag(client: httpx.Client, sandbox: RunningSandbox) -> None:
    r = client.post(f"{sandbox.base_url}/_sandbox/list", json={"lag_s": 1.5})
    assert (r.status_code, r.json()) == (200, {"lag_s": 1.5})
    assert sandbox.state.list_lag_s == 1.5
    sandbox.reset()
    assert sandbox.state.list_lag_s == 0


@pytest.mark.parametrize(("fault", "listed_after"), [("hang", 0), ("reset", 1), ("late", 1)])
def test_hangs_are_never_listed_resets_and_late_answers_are(
    sandbox: RunningSandbox, demo_send_body: Body, fault: str, listed_after: int
) -> None:
    sandbox.set_faults({"sequence": [fault], "late_delay_s": 1.0, "hang_s": 0.3})
    with httpx.Client(timeout=0.5) as short, pytest.raises(httpx.TransportError):
        short.post(f"{sandbox.url}/sms/send-sms", json=demo_send_body(message="maybe"))
    with httpx.Client(timeout=5.0) as client:
        items = listed(client, sandbox)
    assert [m["message"] for m in items] == ["maybe"] * listed_after
    assert len(sandbox.traffic.accepted_requests("send-sms")) == listed_after


def test_template_rows_are_listed_one_message_per_row(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    csv = b"contact,name\n233241000001,Ama\n233241000002,Kofi\n"
    r = client.post(
        f"{sandbox.url}/sms/custom",
        data={
            "api_key_public": DEMO_PUBLIC_KEY,
            "api_key_secret": DEMO_SECRET_KEY,
            "business": "1",
            "sender_id": "PYWE",
            "template": "Hi {name}",
        },
        files={"csv_file": ("rows.csv", csv, "text/csv")},
    )
    assert (r.status_code, r.json()) == (201, {"recipients_count": 2, "status": "PROCESSING"})
    items = listed(client, sandbox)
    assert sorted((m["message"], m["recipients_count"]) for m in items) == [
        ("Hi Ama", 1),
        ("Hi Kofi", 1),
    ]
