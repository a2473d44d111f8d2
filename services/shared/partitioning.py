"""Which partition a record goes to: what the producer's default partitioner (murmur2 of the key, as Java's
client) decides, remembered per key. Keys repeat (a storm is mostly the same fingerprints again), and the
pure-Python murmur2 was a tenth of ingest's CPU. A record without a key goes to any partition."""

import random

from aiokafka.partitioner import DefaultPartitioner

REMEMBERED = 100_000  # keys per topic; then forgotten all at once (cheap, and rare)


class KeyPartitions:
    def __init__(self, partitions: list[int]):
        self.partitions = sorted(partitions)
        self._known: dict[bytes, int] = {}

    def of(self, key: bytes | None) -> int:
        if key is None:
            return random.choice(self.partitions)
        partition = self._known.get(key)
        if partition is None:
            if len(self._known) >= REMEMBERED:
                self._known.clear()
            partition = self._known[key] = DefaultPartitioner()(key, self.partitions, self.partitions)
        return partition
