"""Session-wide fixtures: real Kafka (also secured), real Redis (also TLS and Sentinel) and
the Push.R sandbox."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.redis",
    "tests.fixtures.redis_secure",
    "tests.fixtures.sandbox",
    "tests.fixtures.secured_kafka",
    "tests.fixtures.tls",
    "tests.fixtures.tinyproxy",
]
