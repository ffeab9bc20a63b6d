"""The Kafka bus backend (kafka-python): admin, publisher, subscriber."""
