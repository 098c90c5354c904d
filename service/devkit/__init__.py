"""The local kit: a Push.R sandbox, a local Apache Kafka, `produce` and the demo.

It exists to run the relay on a laptop, in tests and in the benchmark; the relay never imports it.
"""
