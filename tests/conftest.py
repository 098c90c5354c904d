"""Session-wide fixtures: real Kafka, real Redis (also TLS and Sentinel) and the Push.R sandbox."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.redis",
    "tests.fixtures.redis_secure",
    "tests.fixtures.sandbox",
]
