"""The Push.R client: one logical call in, one classified `ProviderResult` out.

Each call builds its request once, then per attempt: breaker permit -> rate limit ->
send -> classify (`classify.py`). Only RETRY_SAFE is retried here (unless the turn is the
caller's), with the one backoff, honouring `Retry-After`. AMBIGUOUS comes back at once:
resending a batch that may have gone out is the engine's decision, never the client's.

Keys travel only in request bodies (Push.R's design), are read from `SecretStr` only when
a body is built, and are scrubbed from every `detail`, as are phone numbers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import structlog

from service import __version__
from service.backoff import Backoff
from service.clock import Clock
from service.pushr.breaker import BreakerSet, Verdict
from service.pushr.classify import (
    Classification,
    accepted_body,
    breaker_verdict,
    classify_exception,
    classify_response,
)
from service.pushr.egress import failure_detail
from service.pushr.outcomes import ClientHooks, Outcome, ProviderResult, SendTurn
from service.pushr.ratelimit import RateLimiter
from service.settings import Settings

SEND_SMS = "send-sms"
CUSTOM = "custom"
LIST = "list"

_log = structlog.stdlib.get_logger(__name__)


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        # A naive time would be read in Push.R's zone, not ours: refuse to guess.
        raise ValueError("scheduled_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PushrClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        clock: Clock,
        rng: random.Random,
        breakers: BreakerSet,
        limiter: RateLimiter,
        hooks: ClientHooks | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock
        self._breakers = breakers
        self._limiter = limiter
        self._hooks = hooks or ClientHooks()
        wrap = self._hooks.wrap_send
        self._send = wrap(http.send) if wrap else http.send
        self._backoff = Backoff(settings.retry_backoff_base, settings.retry_backoff_cap, rng)
        base = settings.pushr_base_url.rstrip("/")
        self._base = httpx.URL(base)
        self._send_url = httpx.URL(f"{base}/sms/send-sms")
        self._custom_url = httpx.URL(f"{base}/sms/custom")
        self._list_url = httpx.URL(f"{base}/sms/")
        self._ua = f"pushr-relay/{__version__}"
        self._json_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self._ua,
        }
        # What `build_request` would merge for every send-sms (the client's headers with
        # ours, its timeout), done once: they never change, and every batch is a send-sms.
        self._send_headers = http.headers.copy()
        self._send_headers.update(self._json_headers)
        self._timeout = http.timeout.as_dict()

    def _keys(self) -> tuple[str, str]:
        s = self._settings
        return s.pushr_api_key_public.get_secret_value(), s.pushr_api_key_secret.get_secret_value()

    # --- the three endpoints ---------------------------------------------------------------

    async def send_sms(
        self,
        *,
        message: str,
        recipients: Sequence[str],
        sender_id: str | None,
        scheduled_at: datetime | None,
        time_budget: float | None = None,
        turn: SendTurn | None = None,
    ) -> ProviderResult:
        """POST /sms/send-sms. `time_budget` (seconds) bounds the whole call with its
        retries: no backoff or rate-limit wait that would end after it is started."""
        keys = public, secret = self._keys()
        payload: dict[str, Any] = {
            "api_key_public": public,
            "api_key_secret": secret,
            "message": message,
            "recipients": list(recipients),
            "scheduled": scheduled_at is not None,
        }
        if sender_id is not None:
            payload["sender_id"] = sender_id
        if scheduled_at is not None:
            payload["time_scheduled"] = _iso_utc(scheduled_at)
        # orjson + content=: the relay's one JSON encoder, not httpx's stdlib one, on the
        # path every batch takes.
        request = httpx.Request(
            "POST",
            self._send_url,
            content=orjson.dumps(payload),
            headers=self._send_headers,
            extensions={"timeout": self._timeout},
        )
        return await self._call(SEND_SMS, request, keys, time_budget=time_budget, turn=turn)

    async def send_custom(
        self,
        *,
        business: int,
        sender_id: str | None,
        template: str,
        csv_bytes: bytes,
        scheduled_at: datetime | None,
        time_budget: float | None = None,
        turn: SendTurn | None = None,
    ) -> ProviderResult:
        """POST /sms/custom (multipart, a CSV with a `contact` column)."""
        keys = public, secret = self._keys()
        data = {
            "business": str(business),
            "template": template,
            "scheduled": "true" if scheduled_at is not None else "false",
            "api_key_public": public,
            "api_key_secret": secret,
        }
        if sender_id is not None:
            data["sender_id"] = sender_id
        if scheduled_at is not None:
            data["time_scheduled"] = _iso_utc(scheduled_at)
        request = self._http.build_request(
            "POST",
            self._custom_url,
            data=data,
            files={"csv_file": ("recipients.csv", csv_bytes, "text/csv")},
            headers={"Accept": "application/json", "User-Agent": self._ua},
        )
        # Encode the multipart body once: every attempt resends the same bytes, and both
        # transports then see a plain body with a Content-Length.
        await request.aread()
        return await self._call(CUSTOM, request, keys, time_budget=time_budget, turn=turn)

    async def list_messages(
        self,
        *,
        business: int,
        jwt: str,
        url: str | None = None,
        time_budget: float | None = None,
    ) -> ProviderResult:
        """GET /sms/?business= (JWT). `url` follows a page's `next` link; it must point at
        the configured Push.R origin, so the token is never sent anywhere else."""
        headers = {
            "Authorization": f"Bearer {jwt}",
            "Accept": "application/json",
            "User-Agent": self._ua,
        }
        if url is None:
            request = self._http.build_request(
                "GET", self._list_url, params={"business": business}, headers=headers
            )
        else:
            target = httpx.URL(url)
            base = self._base
            if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
                raise ValueError("refusing to follow a `next` link to another origin")
            request = self._http.build_request("GET", target, headers=headers)
        return await self._call(LIST, request, (jwt,), time_budget=time_budget, idempotent=True)

    # --- one logical call ------------------------------------------------------------------

    async def _call(
        self,
        endpoint: str,
        request: httpx.Request,
        secrets: tuple[str, ...],
        *,
        time_budget: float | None,
        idempotent: bool = False,
        turn: SendTurn | None = None,
    ) -> ProviderResult:
        clock, hooks = self._clock, self._hooks
        started = clock.monotonic()
        deadline = None if time_budget is None else started + time_budget
        breaker = self._breakers[endpoint]
        turn = turn or SendTurn(mine=False)  # see SendTurn: whose retries, which lane, expiry
        attempts = turn.attempts_before
        status: int | None = None
        body: dict[str, Any] | None = None

        def result(c: Classification) -> ProviderResult:
            return ProviderResult(
                outcome=c.outcome,
                endpoint=endpoint,
                status_code=status,
                body=body,
                detail=c.detail,
                retry_after=c.retry_after,
                attempts=attempts,
                latency_seconds=clock.monotonic() - started,
            )

        while True:
            permit = breaker.try_acquire()
            if permit is None:
                if hooks.on_request:
                    hooks.on_request(endpoint, Outcome.BREAKER_OPEN)
                wait = breaker.open_remaining()
                return result(
                    Classification(Outcome.BREAKER_OPEN, "circuit breaker open", wait or None)
                )
            verdict = Verdict.NEUTRAL  # unless an answer arrives (cancelled, over budget)
            try:
                left = None if deadline is None else deadline - clock.monotonic()
                if not await self._limiter.wait(max_wait=left, lane=turn.lane):
                    held = self._limiter.held_for() or None
                    return result(
                        Classification(Outcome.RETRY_SAFE, "rate limit beyond time budget", held)
                    )
                if turn.expired(clock.now()):  # checked after every wait, right before sending
                    return result(Classification(Outcome.EXPIRED, turn.EXPIRED, None))
                attempts += 1
                if attempts > 1 and hooks.on_retry:
                    hooks.on_retry(endpoint)
                turn.requested()
                sent_at = clock.monotonic()
                try:
                    response = await self._send(request)
                except Exception as exc:
                    # Any failure, known or not: classify_exception treats the unknown as
                    # ambiguous, which is safer than crashing with a batch maybe sent.
                    outcome = classify_exception(exc)
                    if idempotent and outcome is Outcome.AMBIGUOUS:
                        outcome = Outcome.RETRY_SAFE  # a GET charges nothing: just retry
                    status, body = None, None
                    answer = Classification(outcome, failure_detail(exc), None)
                else:
                    status = response.status_code
                    answer = classify_response(
                        status,
                        response.content,
                        retry_after=response.headers.get("retry-after"),
                        now=clock.now(),
                        retry_after_cap=self._settings.retry_after_cap,
                        secrets=secrets,
                    )
                    body = None
                    if answer.outcome is Outcome.ACCEPTED:
                        body, answer = accepted_body(response.content, answer)
                if hooks.on_latency:
                    hooks.on_latency(endpoint, clock.monotonic() - sent_at)
                if hooks.on_request:
                    hooks.on_request(endpoint, answer.outcome)
                verdict = breaker_verdict(answer.outcome, status)
            finally:
                breaker.record(permit, verdict)

            if answer.outcome is not Outcome.RETRY_SAFE:
                return result(answer)
            if answer.retry_after:
                # Push.R's "not before" applies to every caller, this one out of attempts too.
                self._limiter.hold(answer.retry_after)
            if turn.mine or attempts >= self._settings.retry_max_attempts:
                return result(answer)
            delay = self._backoff.delay(attempts - 1, answer.retry_after)
            if deadline is not None and clock.monotonic() + delay > deadline:
                return result(answer)
            _log.info(
                "provider_retry",
                endpoint=endpoint,
                attempt=attempts,
                detail=answer.detail,
                delay=round(delay, 3),
            )
            await clock.sleep(delay)
