"""One typed settings object, read once from the environment and passed down.

Every field reads `PUSHR_RELAY_<FIELD>`; the broker and Redis addresses also accept the
plain `KAFKA_BOOTSTRAP_SERVERS` / `REDIS_URL` that platforms and test runners set.

Over 300 lines: one settings object is the point (every field with its default and its
description in one place, checked against the README's table); each field is a few
declarative lines, and the checks that span fields sit beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.kafka.security import (
    KafkaClientSecurity,
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
)
from service.ledger.redis_options import check_redis_settings
from service.priority import Priority

if TYPE_CHECKING:
    from service.contract.sealing import DlqKeys

DeliveryMode = Literal["at_most_once", "at_least_once"]


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error would otherwise quote the values given,
    # passwords and URLs with credentials among them.
    model_config = SettingsConfigDict(
        env_prefix="PUSHR_RELAY_",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    # --- Kafka ---------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "PUSHR_RELAY_KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_BOOTSTRAP_SERVERS",
            "kafka_bootstrap_servers",
        ),
        description="Comma-separated broker addresses.",
    )
    in_topic: str = Field("sms.requests", description="Topic of inbound SMS request events.")
    out_topic: str = Field("sms.events", description="Topic of outbound result and status events.")
    dlq_topic: str = Field("sms.requests.dlq", description="Dead-letter topic for invalid events.")
    group_id: str = Field("pushr-relay", description="Kafka consumer group.")
    client_id: str = Field("pushr-relay", description="Kafka client id prefix.")
    fetch_max_records: int = Field(500, ge=1, description="Records per fetch.")
    fetch_max_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Bytes per fetch response, all partitions."
    )
    fetch_max_partition_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Bytes per partition per fetch; a larger record still comes alone.",
    )
    # Kafka security: one block for every client (consumer, producer, admin, produce CLI);
    # checked once by `service.kafka.security`, see README "Connecting to a managed Kafka".
    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL (TLS, also mTLS), SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (SASL_* only)."
    )
    kafka_sasl_username: str | None = Field(
        None, description="SASL user (PLAIN, SCRAM); an API key on Confluent Cloud."
    )
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (PLAIN, SCRAM).")
    kafka_sasl_oauth_token_url: str | None = Field(
        None, description="OIDC token endpoint for OAUTHBEARER (client-credentials grant)."
    )
    kafka_sasl_oauth_client_id: str | None = Field(None, description="OAUTHBEARER client id.")
    kafka_sasl_oauth_client_secret: SecretStr | None = Field(
        None, description="OAUTHBEARER client secret."
    )
    kafka_sasl_oauth_scope: str | None = Field(
        None, description="OAUTHBEARER scope to request; none = the provider's default."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM CA bundle trusted for the brokers; none = the system's CAs."
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate (mTLS), with its chain."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted private key."
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        description="Check the broker certificate names the host. Unsafe to turn off: any "
        "certificate the CA signed would then pass as the broker.",
    )
    _kafka_client_security: KafkaClientSecurity = PrivateAttr()

    @model_validator(mode="after")
    def _load_kafka_security(self) -> Self:
        # raises one line per unusable combination, before any client connects
        self._kafka_client_security = KafkaClientSecurity(self.kafka_security())
        return self

    def kafka_client_security(self) -> KafkaClientSecurity:
        """The checked security block: TLS context and token provider, built once."""
        return self._kafka_client_security

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=self.kafka_ssl_key_password,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
            oauth_token_url=self.kafka_sasl_oauth_token_url,
            oauth_client_id=self.kafka_sasl_oauth_client_id,
            oauth_client_secret=self.kafka_sasl_oauth_client_secret,
            oauth_scope=self.kafka_sasl_oauth_scope,
        )

    # --- Push.R ----------------------------------------------------------------------------
    pushr_base_url: str = Field(
        "http://127.0.0.1:6700/api/client", description="Push.R API base URL."
    )
    pushr_api_key_public: SecretStr = Field(SecretStr(""), description="Push.R public API key.")
    pushr_api_key_secret: SecretStr = Field(SecretStr(""), description="Push.R secret API key.")
    pushr_business_id: int | None = Field(
        None, description="Business id (template sends and the status poller)."
    )
    http_transport: Literal["aiohttp", "httpx", "lean"] = Field(
        "lean",
        description="httpx transport: lean (kept-alive HTTP/1.1 parsed by llhttp; aiohttp "
        "when a proxy is set), aiohttp-backed, or httpx's own.",
    )
    http_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect.")
    http_read_timeout: float = Field(30.0, gt=0, description="Seconds to wait for an answer.")
    http_write_timeout: float = Field(10.0, gt=0, description="Seconds to send a request.")
    http_pool_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a connection.")
    http_max_connections: int = Field(64, ge=1, description="Connections to Push.R.")
    # The status list's JWT, and HTTPS and a proxy to Push.R: one block, checked by
    # `service.pushr.credentials` and `service.pushr.egress` (README "Push.R over HTTPS and
    # through a proxy", "The status list's JWT"). Any one credential enables the poller.
    pushr_jwt: SecretStr | None = Field(
        None,
        description="A static JWT for the status list; any of the three ways enables the poller.",
    )
    pushr_jwt_file: Path | None = Field(
        None, description="File holding the JWT, re-read when it changes (a mounted Secret)."
    )
    pushr_username: str | None = Field(
        None, description="Push.R user whose JWT is obtained and refreshed (with the password)."
    )
    pushr_password: SecretStr | None = Field(None, description="Password of the Push.R user.")
    pushr_jwt_obtain_path: str = Field(
        "/api/token/", description="Obtain endpoint (simplejwt), under the base URL's site root."
    )
    pushr_jwt_refresh_path: str = Field(
        "/api/token/refresh/", description="Refresh endpoint, under the base URL's site root."
    )
    pushr_jwt_renew_margin_seconds: float = Field(
        30.0,
        ge=0,
        description="Renew an access token this long before its `exp` (at most half its life).",
    )
    http_ca_file: Path | None = Field(
        None, description="PEM CA bundle trusted for Push.R, added to the default CAs."
    )
    http_client_cert_file: Path | None = Field(
        None, description="PEM client certificate for Push.R (or its gateway), with its chain."
    )
    http_client_key_file: Path | None = Field(
        None, description="PEM key of the client certificate; none = in the certificate file."
    )
    http_client_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted client key."
    )
    http_proxy: SecretStr | None = Field(
        None, description="Forward proxy to Push.R: http://[user:password@]host:port."
    )
    http_trust_env: bool = Field(
        False,
        description="Use HTTPS_PROXY/HTTP_PROXY/NO_PROXY unless PUSHR_RELAY_HTTP_PROXY is set.",
    )

    @model_validator(mode="after")
    def _check_pushr_access(self) -> Self:
        # imported here: those modules reach `service.contract`, which imports this one
        from service.pushr.credentials import credential_problems  # noqa: PLC0415
        from service.pushr.egress import egress_problems  # noqa: PLC0415

        problems = credential_problems(self) + egress_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- delivery engine -------------------------------------------------------------------
    batch_size: int = Field(100, ge=1, le=10_000, description="Recipients per Push.R request.")
    max_in_flight: int = Field(256, ge=1, description="Events in progress, all partitions.")
    max_in_flight_per_partition: int = Field(
        128, ge=1, description="Events in progress per partition before it is paused."
    )
    max_in_flight_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="Payload bytes of events in progress; fetching pauses above it. "
        "An event larger than this still runs, alone.",
    )
    retry_max_attempts: int = Field(6, ge=1, description="Attempts per request, first included.")
    retry_backoff_base: float = Field(0.2, gt=0, description="First backoff (s), doubled per try.")
    retry_backoff_cap: float = Field(20.0, gt=0, description="Longest backoff (s).")
    retry_after_cap: float = Field(120.0, gt=0, description="Longest Retry-After honoured (s).")
    breaker_consecutive_failures: int = Field(5, ge=1, description="Failures that open it.")
    breaker_failure_rate: float = Field(0.5, gt=0, le=1, description="Failure rate that opens it.")
    breaker_window: int = Field(20, ge=1, description="Requests in the failure-rate window.")
    breaker_open_seconds: float = Field(5.0, gt=0, description="Open time before a probe.")
    rate_limit_rps: float = Field(0.0, ge=0, description="Requests/s to Push.R; 0 = no limit.")
    balance_recheck_seconds: float = Field(
        15.0, gt=0, description="Probe interval while paused on insufficient balance."
    )
    delivery_default: DeliveryMode = Field(
        "at_most_once", description="Delivery mode of events that do not name one."
    )

    # --- priority lanes (README "Priority lanes") ---------------------------------------
    in_topic_critical: str | None = Field(
        None,
        description="Topic whose events are all `critical`, consumed besides the in-topic; "
        "its lane wins over an event's `priority`. None: not consumed.",
    )
    in_topic_bulk: str | None = Field(
        None,
        description="Topic whose events are all `bulk`, consumed besides the in-topic; "
        "its lane wins over an event's `priority`. None: not consumed.",
    )
    lane_weight_normal: int = Field(
        3, ge=1, description="Turns of `normal` against `bulk` in what `critical` leaves."
    )
    lane_weight_bulk: int = Field(
        1, ge=1, description="Turns of `bulk` against `normal`: at least this share, never none."
    )
    critical_default_expiry_seconds: float = Field(
        600.0,
        ge=0,
        description="Expiry of a `critical` event without `expires_at`, from its produce "
        "time; 0 = none.",
    )
    batches_per_event: int = Field(
        8,
        ge=1,
        description="Batches of one event queued or sending at once; the others are planned "
        "as their turn comes.",
    )
    fetch_ahead_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="Fetched records that may wait unstarted beyond a full in-flight budget, "
        "so a `critical` record behind them on a shared topic is still fetched and started; "
        "0 = pause at once.",
    )

    # --- accounts and spend guards (README "Accounts and spend guards") --------------------
    accounts_file: Path | None = Field(
        None,
        description="YAML or JSON file of Push.R accounts (keys, limits, budgets); none = one "
        "account, `default`, from the settings above.",
    )
    blast_radius_recipients: int = Field(
        10_000,
        ge=0,
        description="Hold an account that sends one text to more recipients than this within "
        "the window below (a loop, a campaign sent twice); 0 = off.",
    )
    blast_radius_minutes: int = Field(
        10, ge=1, le=1440, description="Window of the blast-radius guard, in minutes."
    )
    max_parked_events: int = Field(
        1000,
        ge=0,
        description="Events of held accounts kept waiting aside, uncommitted, while other "
        "accounts' events in the same partitions go on (several accounts only).",
    )

    # --- idempotency ledger ----------------------------------------------------------------
    ledger_backend: Literal["memory", "redis"] = Field(
        "memory", description="memory (one replica) or redis (shared by replicas)."
    )
    ledger_ttl_seconds: int = Field(7 * 24 * 3600, ge=60, description="Ledger entry lifetime.")
    ledger_lease_seconds: float = Field(
        60.0, gt=0, description="Claim lease; longer than the longest request with retries."
    )
    ledger_key_prefix: str = Field("pushr-relay:ledger:", description="Redis key prefix.")

    # Redis, for the ledger, the shared rate limit and the status poller: one block, checked
    # by `service.ledger.redis_options`; see README "Redis: TLS, ACL users, Sentinel".
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("PUSHR_RELAY_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis URL for the ledger and the shared rate limit (rediss:// for TLS).",
    )
    redis_username: str | None = Field(None, description="ACL user; wins over the URL's.")
    redis_password: SecretStr | None = Field(
        None, description="Password (of the ACL user, or requirepass); wins over the URL's."
    )
    redis_ca_file: Path | None = Field(
        None, description="PEM CA bundle trusted for Redis TLS; none = the system's CAs."
    )
    redis_cert_file: Path | None = Field(
        None, description="PEM client certificate, for a Redis that asks for one."
    )
    redis_key_file: Path | None = Field(
        None, description="PEM key of the client certificate; none = in the certificate file."
    )
    redis_sentinels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Sentinels (host:port, comma-separated); set = find the master through them.",
    )
    redis_sentinel_master: str | None = Field(
        None, description="Name the sentinels monitor the master under."
    )
    redis_sentinel_password: SecretStr | None = Field(
        None, description="Password of the sentinels themselves; none = they ask for none."
    )
    redis_wait_replicas: int | None = Field(
        None,
        ge=0,
        description="Replicas that must confirm each claim and result (WAIT) before the relay "
        "acts on it; unset = 1 with Sentinel, 0 without.",
    )

    @model_validator(mode="after")
    def _check_redis(self) -> Self:
        check_redis_settings(self)
        return self

    def request_deadline_seconds(self) -> float:
        """The longest one Push.R attempt can take: pool + connect + write + read."""
        return (
            self.http_pool_timeout
            + self.http_connect_timeout
            + self.http_write_timeout
            + self.http_read_timeout
        )

    def redis_configured(self) -> bool:
        """True when a Redis is named, by URL or through Sentinel."""
        return bool(self.redis_url or self.redis_sentinels)

    # --- contract limits -------------------------------------------------------------------
    max_event_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted event.")
    max_recipients: int = Field(10_000, ge=1, description="Recipients (or rows) per event.")
    max_metadata_bytes: int = Field(2048, ge=0, description="Largest `metadata` (JSON bytes).")
    sender_id_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed sender ids (comma-separated); empty = any."
    )
    late_schedule_policy: Literal["send_now", "reject"] = Field(
        "send_now", description="What to do with a `scheduled_at` already passed when consumed."
    )

    # --- consent: opt-out list, quiet hours, frequency cap (README "Consent") ----------------
    optout_enabled: bool = Field(
        False,
        description="Read the opt-out topic and drop opted-out recipients before each send; "
        "not ready until the list is read. The store follows PUSHR_RELAY_LEDGER_BACKEND.",
    )
    optout_topic: str = Field("sms.optouts", description="Compacted topic of the opt-out list.")
    quiet_hours_enabled: bool = Field(
        False, description="Keep `bulk` messages out of the quiet hours (critical, normal: never)."
    )
    quiet_hours: str = Field(
        "20:00-08:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="The window, HH:MM-HH:MM local time; across midnight when start > end.",
    )
    quiet_hours_timezone: str = Field("Africa/Accra", description="IANA zone of the window.")
    quiet_hours_policy: Literal["defer", "hold"] = Field(
        "defer",
        description="defer: send at once as a Push.R scheduled message for the window's end; "
        "hold: leave the event uncommitted in Kafka until the window ends.",
    )
    frequency_cap: int = Field(
        0, ge=0, description="Most `bulk` messages per recipient per rolling 24 h; 0 = no cap."
    )

    # --- process ---------------------------------------------------------------------------
    http_host: str = Field("0.0.0.0", description="Address of /metrics, /healthz, /readyz.")
    http_port: int = Field(9100, ge=0, le=65535, description="Port of the metrics server.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the JSON logs."
    )
    shutdown_grace_seconds: float = Field(25.0, gt=0, description="Drain time on SIGTERM.")
    revoke_deadline_seconds: float = Field(10.0, gt=0, description="Drain time on revoke.")
    liveness_stall_seconds: float = Field(
        60.0, gt=0, description="/healthz fails when the loop made no progress this long."
    )
    status_poll_seconds: float = Field(30.0, gt=0, description="Delivery-status poll interval.")
    status_track_ttl_seconds: int = Field(
        48 * 3600, ge=60, description="Stop polling a message after this long."
    )
    reconcile: bool = Field(
        True,
        description="Settle ambiguous sends from Push.R's message list when the list can be "
        "read (PUSHR_RELAY_PUSHR_JWT and PUSHR_RELAY_PUSHR_BUSINESS_ID); false = as before: "
        "unknown at most once, resent at least once.",
    )
    reconcile_clock_skew_seconds: float = Field(
        2.0,
        ge=0,
        description="How far Push.R's clock may be from the ledger's (Redis TIME, or the "
        "relay's with the memory ledger): request windows are widened by it on both sides.",
    )
    reconcile_settle_seconds: float = Field(
        30.0,
        gt=0,
        description="Wait after a request window closes before judging it: longer than "
        "Push.R takes to list a processed request.",
    )

    @field_validator("quiet_hours_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            known = "an IANA name such as Africa/Accra"
            raise ValueError(f"unknown time zone {value!r}: {known}") from None
        return value

    @model_validator(mode="after")
    def _distinct_in_topics(self) -> Self:
        topics = self.in_topics()
        if len(set(topics)) != len(topics):
            raise ValueError("in_topic, in_topic_critical and in_topic_bulk must differ")
        return self

    def in_topics(self) -> list[str]:
        """Every topic the relay consumes: the in-topic, then the lane topics that are set."""
        lanes = (self.in_topic_critical, self.in_topic_bulk)
        return [self.in_topic, *(topic for topic in lanes if topic)]

    def topic_lanes(self) -> dict[str, Priority]:
        """Lane topics and their lane; events of other topics carry their own `priority`."""
        lanes: dict[str, Priority] = {}
        if self.in_topic_critical:
            lanes[self.in_topic_critical] = "critical"
        if self.in_topic_bulk:
            lanes[self.in_topic_bulk] = "bulk"
        return lanes

    # --- dead letters: the sealed original (replay) ---------------------------------------
    dlq_keys: SecretStr | None = Field(
        None,
        description="Keys sealing each dead letter's original for replay: KEY_ID:BASE64 "
        "(32 random bytes, AES-256-GCM), comma-separated; none = a masked copy only, as before.",
    )
    dlq_key_id: str | None = Field(
        None, description="Id of the key that seals new dead letters; default: the first."
    )
    _dlq_keys: DlqKeys | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_dlq_keys(self) -> Self:
        if self.dlq_keys is None:
            if self.dlq_key_id is not None:
                raise ValueError("PUSHR_RELAY_DLQ_KEY_ID is set without PUSHR_RELAY_DLQ_KEYS")
            return self
        # imported here: the contract package imports this module
        from service.contract.sealing import DlqKeys  # noqa: PLC0415

        self._dlq_keys = DlqKeys.parse(self.dlq_keys.get_secret_value(), self.dlq_key_id)
        return self

    def dlq_sealing_keys(self) -> DlqKeys | None:
        """The checked dead-letter keys, or None when none are configured."""
        return self._dlq_keys

    @field_validator("sender_id_allowlist", "redis_sentinels", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def kafka_common(self) -> dict[str, Any]:
        """Keyword arguments shared by every aiokafka client: the address, the client id and
        the security options (one TLS context and token provider, built once)."""
        return {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "client_id": self.client_id,
            **self._kafka_client_security.options(),
        }
