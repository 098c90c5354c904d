"""A faithful, fast fake of the Push.R SMS API, for tests, the demo and the benchmark.

Endpoints under `/api/client` (as in Push.R's API text): `POST /sms/send-sms`,
`POST /sms/custom`, `GET /sms/?business=ID` (JWT); an admin API under `/_sandbox/`.

Demo account: business id 1 ("Demo Business"), public key `pk_demo_pushr_relay`,
secret key `sk_demo_pushr_relay`, 1,000,000.00 GHS at 0.03 GHS per unit, sender ids
PYWE and PushR (PENDING1 pending). Business 2 ("Small Business", `pk_small_pushr_relay` /
`sk_small_pushr_relay`, sender SMALL) starts with 1.00 GHS.

JWT for the list endpoint: `POST /_sandbox/token {"business": 1}` -> `{"access": ...}`,
`sandbox.issue_token(1)` in process, or the constant `DEMO_JWT` (business 1, no expiry).

    with RunningSandbox() as sandbox:        # background thread; or `await SandboxServer().start()`
        sandbox.url                          # http://127.0.0.1:PORT/api/client

From a shell: `pushr-relay sandbox --port 0` prints `SANDBOX_URL=...` first.
"""

from service.devkit.sandbox.accounts import (
    DEMO_BUSINESS_ID,
    DEMO_PUBLIC_KEY,
    DEMO_SECRET_KEY,
    SMALL_BUSINESS_ID,
    SMALL_PUBLIC_KEY,
    SMALL_SECRET_KEY,
)
from service.devkit.sandbox.config import SandboxConfig
from service.devkit.sandbox.faults import FaultConfig
from service.devkit.sandbox.jwt import DEMO_JWT
from service.devkit.sandbox.lifecycle import LifecycleConfig
from service.devkit.sandbox.runner import RunningSandbox
from service.devkit.sandbox.server import SandboxServer

__all__ = [
    "DEMO_BUSINESS_ID",
    "DEMO_JWT",
    "DEMO_PUBLIC_KEY",
    "DEMO_SECRET_KEY",
    "SMALL_BUSINESS_ID",
    "SMALL_PUBLIC_KEY",
    "SMALL_SECRET_KEY",
    "FaultConfig",
    "LifecycleConfig",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxServer",
]
