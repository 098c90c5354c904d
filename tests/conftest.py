"""Session-wide fixtures: real Kafka, real Redis and the Push.R sandbox."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.redis",
    "tests.fixtures.sandbox",
]
