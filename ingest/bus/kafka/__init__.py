"""The Kafka bus backend (kafka-python): `config` (URL, options, packing codec), `publisher`,
`subscriber` (a consumer-group member; `membership` is its rebalance listener and what it does
after falling out of the group) and `bus` (KafkaBus, which hands both out and owns the admin
client). Only `ingest.bus.open_bus` imports this package, lazily.
"""

from ingest.bus.kafka.bus import KafkaBus
from ingest.bus.kafka.config import KafkaConfig, pack, unpack

__all__ = ["KafkaBus", "KafkaConfig", "pack", "unpack"]
