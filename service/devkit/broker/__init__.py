"""A local Apache Kafka (KRaft) assembled from Maven Central jars, started without Docker."""
