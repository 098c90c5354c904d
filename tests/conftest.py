"""Session-wide fixtures: real Kafka (also secured), real Redis and the Push.R sandbox."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.redis",
    "tests.fixtures.sandbox",
    "tests.fixtures.secured_kafka",
]
