"""Small admin helpers over aiokafka's admin client, shared by the app, the demo and tests.

`client_options` are the security keyword arguments of every client (`Settings.kafka_common()`
without the address, or `LocalKafka.client_options()`), so these connect as the relay does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

_RETRY_S = 0.25
_ATTEMPT_S = 10.0


async def wait_for_cluster(
    bootstrap: str,
    # one deadline across many connection attempts, each with its own shorter bound
    timeout: float = 60.0,  # noqa: ASYNC109
    *,
    min_brokers: int = 1,
    require_nodes: Collection[int] = (),
    **client_options: Any,
) -> dict[str, Any]:
    """Wait until the cluster answers a describe-cluster with a controller, at least
    `min_brokers` live brokers and every node id of `require_nodes` among them.

    Returns the description (`brokers`, `controller_id`, `cluster_id`); raises TimeoutError.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: BaseException | None = None
    while (remaining := deadline - loop.time()) > 0:
        attempt = min(remaining, _ATTEMPT_S)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=max(1000, int(attempt * 1000)),
            **client_options,
        )
        try:
            async with asyncio.timeout(attempt):
                await admin.start()
                info: dict[str, Any] = await admin.describe_cluster()
            live = {b["node_id"] for b in info.get("brokers", ())}
            missing = set(require_nodes) - live
            if len(live) >= min_brokers and not missing and info.get("controller_id", -1) >= 0:
                return info
            last = RuntimeError(f"live brokers {sorted(live)}, waiting for {sorted(missing)}")
        except (KafkaError, OSError, TimeoutError) as exc:
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(_RETRY_S)
    raise TimeoutError(f"Kafka at {bootstrap} not ready after {timeout:.0f}s: {last!r}")


async def create_topics(
    bootstrap: str,
    names: list[str],
    partitions: int = 1,
    replication: int = 1,
    *,
    config: Mapping[str, str] | None = None,
    # also the broker-side CreateTopics timeout, so it cannot be an outer asyncio.timeout
    timeout: float = 30.0,  # noqa: ASYNC109
    **client_options: Any,
) -> None:
    """Create `names` (existing ones are left as they are), then wait until all have leaders.

    Waiting for leaders spares callers the UnknownTopicOrPartition retries of a producer or
    consumer that races the metadata propagation right after creation.
    """
    if not names:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **client_options
    )
    try:
        await admin.start()
        topics = [
            NewTopic(n, partitions, replication, topic_configs=dict(config or {})) for n in names
        ]
        response = await admin.create_topics(topics, timeout_ms=int(timeout * 1000))
        for topic, code, *rest in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                message = rest[0] if rest else None
                raise for_code(code)(f"creating topic {topic!r}: {message}")
        async with asyncio.timeout(timeout):
            await _wait_for_leaders(admin, names)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    while True:
        described = await admin.describe_topics(names)
        if len(described) == len(names) and all(_has_leaders(t) for t in described):
            return
        await asyncio.sleep(_RETRY_S)


def _has_leaders(topic: Mapping[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return (
        topic.get("error_code") == 0
        and bool(partitions)
        and all(p.get("leader", -1) >= 0 for p in partitions)
    )
