"""A faithful, fast fake of the Push.R SMS API, for tests, the demo and the benchmark.

Endpoints under `/api/client` (as in Push.R's API text): `POST /sms/send-sms`,
`POST /sms/custom`, `GET /sms/?business=ID` (JWT); simplejwt's `POST /api/token/` and
`POST /api/token/refresh/` on the site root; an admin API under `/_sandbox/`.

Demo account: business id 1 ("Demo Business"), public key `pk_demo_pushr_relay`,
secret key `sk_demo_pushr_relay`, 1,000,000.00 GHS at 0.03 GHS per unit, sender ids
PYWE and PushR (PENDING1 pending), user `demo` / `demo-password`. Business 2 ("Small
Business", `pk_small_pushr_relay` / `sk_small_pushr_relay`, sender SMALL, user `small` /
`small-password`) starts with 1.00 GHS.

JWTs for the list endpoint: `POST /api/token/ {"username": "demo", "password":
"demo-password"}` -> `{"refresh": ..., "access": ...}`; the access token expires after
`access_token_ttl_s` (300 s; `--access-token-ttl`), the refresh token after a day, on the
sandbox's clock (inject a `Clock` to move it). Tests may take one directly:
`sandbox.issue_token(1)`, or `POST /_sandbox/token {"business": 1}`. No token lives forever.

    with RunningSandbox() as sandbox:        # background thread; or `await SandboxServer().start()`
        sandbox.url                          # http://127.0.0.1:PORT/api/client

HTTPS: `SandboxConfig(tls_cert_file=..., tls_key_file=...)` (and `tls_client_ca_file` to
require client certificates), or `pushr-relay sandbox --tls-cert F --tls-key F`.
From a shell: `pushr-relay sandbox --port 0` prints `SANDBOX_URL=...` first.
"""

from service.devkit.sandbox.accounts import (
    DEMO_BUSINESS_ID,
    DEMO_PASSWORD,
    DEMO_PUBLIC_KEY,
    DEMO_SECRET_KEY,
    DEMO_USERNAME,
    SMALL_BUSINESS_ID,
    SMALL_PASSWORD,
    SMALL_PUBLIC_KEY,
    SMALL_SECRET_KEY,
    SMALL_USERNAME,
)
from service.devkit.sandbox.config import SandboxConfig
from service.devkit.sandbox.faults import FaultConfig
from service.devkit.sandbox.lifecycle import LifecycleConfig
from service.devkit.sandbox.runner import RunningSandbox
from service.devkit.sandbox.server import SandboxServer

__all__ = [
    "DEMO_BUSINESS_ID",
    "DEMO_PASSWORD",
    "DEMO_PUBLIC_KEY",
    "DEMO_SECRET_KEY",
    "DEMO_USERNAME",
    "SMALL_BUSINESS_ID",
    "SMALL_PASSWORD",
    "SMALL_PUBLIC_KEY",
    "SMALL_SECRET_KEY",
    "SMALL_USERNAME",
    "FaultConfig",
    "LifecycleConfig",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxServer",
]
