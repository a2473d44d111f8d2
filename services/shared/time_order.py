"""Handing out the records of several partitions in event-time order (their record timestamps).

A consumer reads its partitions at their own pace: after a backlog (a restart, a slow database) one fetch can
bring a minute of one partition and nothing of another. A consumer whose decisions span keys in different
partitions (the correlator: alerts of one group have different fingerprints) would then decide in an order no
clean run would have seen. Merged by time, the order is the same however the fetches fell, as in Kafka Streams:
the record with the earliest timestamp goes first, and a partition that may still hold earlier records (nothing
buffered, not read to its end) holds the merge back until it is fetched, or until `max_wait` says it is idle.
Within a partition, records keep their offset order, so the offsets stored after a prefix never skip one.
"""

import heapq
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Protocol


class Timed(Protocol):
    timestamp: int
    offset: int


class TimeOrder:
    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[Any]] = {}

    def add(self, partition: Hashable, records: Sequence[Timed]) -> None:
        if records:
            self._queues.setdefault(partition, deque()).extend(records)

    def buffered(self, partition: Hashable) -> int:
        queue = self._queues.get(partition)
        return len(queue) if queue else 0

    def forget(self, partitions: Iterable[Hashable] | None = None) -> None:
        """Drop what is buffered (all of it, or these partitions'): their positions were set again."""
        if partitions is None:
            self._queues.clear()
        for partition in partitions or ():
            self._queues.pop(partition, None)

    def take(self, limit: int, unread: set[Hashable], caught_up: set[Hashable]) -> list[Any]:
        """Up to `limit` records in time order (ties: partition, then offset). `unread`: partitions that may hold
        records not fetched yet; one of them with nothing buffered stops the merge (it may hold earlier ones).
        A partition drained here stops it too unless it is in `caught_up` (read to its end)."""
        if any(not self._queues.get(p) for p in unread):
            return []
        heads = [(q[0].timestamp, _order(p), q[0].offset, p) for p, q in self._queues.items() if q]
        heapq.heapify(heads)
        out: list[Any] = []
        while heads and len(out) < limit:
            _, _, _, partition = heapq.heappop(heads)
            queue = self._queues[partition]
            out.append(queue.popleft())
            if queue:
                heapq.heappush(heads, (queue[0].timestamp, _order(partition), queue[0].offset, partition))
            elif partition not in caught_up:
                break  # its next records, not fetched yet, may be earlier than any other partition's head
        return out


def _order(partition: Hashable) -> Any:
    return getattr(partition, "partition", partition)
