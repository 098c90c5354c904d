"""The status side's parts: the delivery-status poller, its store and lease, and the
reconciler it runs each round; built like the rest (`service.builders`), started by
`service.app.run`."""

from __future__ import annotations

import redis.asyncio as aioredis

from service.builders import Core
from service.configuration import ConfigurationError
from service.ledger.base import ReconcilingLedger
from service.ledger.lease import Lease, LocalLease, RedisLease
from service.observability.logging import get_logger
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.publish import Publisher
from service.pushr.client import PushrClient
from service.pushr.credentials import Credentials, credentials_configured, jwt_expiry
from service.settings import Settings
from service.status.list_reader import MessageListReader
from service.status.poller import StatusPoller, lease_seconds
from service.status.reconciler import Reconciler
from service.status.settle import Settler
from service.status.tracked import MemoryTrackStore, RedisTrackStore, TrackStore
from service.status.tracking import StatusTracker

log = get_logger(__name__)


def status_polling_enabled(settings: Settings) -> bool:
    """The poller needs a JWT (static, from a file, or by user and password) and the
    business whose list it reads."""
    if not credentials_configured(settings):
        return False
    if settings.pushr_business_id is None:
        log.warning("status_poller_disabled", reason="pushr_business_id is not set")
        return False
    return True


def reconciliation_enabled(settings: Settings) -> bool:
    """Reconciliation reads the status list, so it needs what the poller needs; said once
    at start-up either way. A settle time within the clock skew is refused: a claim made
    after a verdict could then own an entry the verdict already paired."""
    reason = None
    if not settings.reconcile:
        reason = "PUSHR_RELAY_RECONCILE is false"
    elif not credentials_configured(settings):
        reason = "no credentials for Push.R's message list (PUSHR_RELAY_PUSHR_JWT...)"
    elif settings.pushr_business_id is None:
        reason = "pushr_business_id is not set"
    if reason is not None:
        log.info("reconciliation_off", reason=reason)
        return False
    s = settings
    if s.reconcile_settle_seconds <= s.reconcile_clock_skew_seconds:
        raise ConfigurationError(
            f"PUSHR_RELAY_RECONCILE_SETTLE_SECONDS ({s.reconcile_settle_seconds:g}) must be "
            "greater than PUSHR_RELAY_RECONCILE_CLOCK_SKEW_SECONDS "
            f"({s.reconcile_clock_skew_seconds:g})"
        )
    log.info("reconciliation_on", every=s.status_poll_seconds, settle=s.reconcile_settle_seconds)
    return True


def build_reconciler(
    core: Core,
    ledger: ReconcilingLedger,
    deliverer: BatchDeliverer,
    client: PushrClient,
    publisher: Publisher,
) -> Reconciler:
    _warn_if_the_token_lapses(core.settings, core.clock.now())
    return Reconciler(
        Settler(
            ledger=ledger,
            deliverer=deliverer,
            client=client,
            publisher=publisher,
            metrics=core.metrics,
            clock=core.clock,
        ),
        skew_seconds=core.settings.reconcile_clock_skew_seconds,
        settle_seconds=core.settings.reconcile_settle_seconds,
        deadline_seconds=core.settings.request_deadline_seconds(),
    )


def _warn_if_the_token_lapses(settings: Settings, now: float) -> None:
    """A static list token is never renewed: once it expires every round is refused and
    no pending batch is judged again until a restart with a new one. Said once, at start."""
    if settings.pushr_jwt is None:
        return  # a token file or user and password: renewed (`service.pushr.credentials`)
    expires = jwt_expiry(settings.pushr_jwt.get_secret_value())
    if expires is not None:
        log.warning(
            "reconciliation_token_expires",
            in_seconds=round(expires - now),
            then="no verdicts until restarted with a new token",
            instead="PUSHR_RELAY_PUSHR_USERNAME and PUSHR_RELAY_PUSHR_PASSWORD, or a token file",
        )


def build_status_store(
    core: Core, redis: aioredis.Redis | None
) -> tuple[TrackStore, Lease, StatusTracker]:
    """Shared in Redis beside the ledger, so any replica can take over; else in-process."""
    settings = core.settings
    store: TrackStore
    lease: Lease
    if redis is not None:
        prefix = settings.ledger_key_prefix
        store = RedisTrackStore(redis, f"{prefix}status:tracked")
        lease = RedisLease(
            redis, f"{prefix}status:lease", core.owner, lease_seconds(settings.status_poll_seconds)
        )
    else:
        store, lease = MemoryTrackStore(), LocalLease()
    return store, lease, StatusTracker(store, core.clock, core.metrics)


def build_status_poller(
    core: Core,
    client: PushrClient,
    publisher: Publisher,
    store: TrackStore,
    lease: Lease,
    *,
    credentials: Credentials,
    reconciler: Reconciler | None = None,
) -> StatusPoller:
    """`credentials` (`service.pushr.credentials.build_credentials`) is built once per
    process: every reader of the list shares it, so a renewal serves them all."""
    settings = core.settings
    assert settings.pushr_business_id is not None
    reader = MessageListReader(client, business=settings.pushr_business_id, credentials=credentials)
    return StatusPoller(
        reader=reader,
        publisher=publisher,
        store=store,
        lease=lease,
        metrics=core.metrics,
        clock=core.clock,
        rng=core.rng,
        poll_seconds=settings.status_poll_seconds,
        track_ttl_seconds=settings.status_track_ttl_seconds,
        reconciler=reconciler,
    )
