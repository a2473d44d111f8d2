"""Handing out the records of several partitions in event-time order (their record timestamps).

A consumer reads its partitions at their own pace: after a backlog (a restart, a slow database) one fetch can
bring a minute of one partition and nothing of another. A consumer whose decisions span keys in different
partitions (the correlator: alerts of one group have different fingerprints) would then decide in an order no
clean run would have seen. Merged by time, the order is the same however the fetches fell, as in Kafka Streams:
the record with the earliest timestamp goes first, and a partition that may still hold earlier records (nothing
buffered, not read to its end) holds the merge back until it is fetched, or until `max_wait` says it is idle.
A partition read to its end may still have an earlier record on its way (produced a moment later than a record
of another partition): with a grace, it holds back each record that arrived less than the grace ago, so every
record waits at most the grace, and only while some partition has nothing buffered.
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
        self._queues: dict[Hashable, deque[tuple[Any, float]]] = {}  # (record, when it arrived)
        self._latest: int | None = None  # the latest timestamp handed out
        self.late, self.behind_ms = 0, 0  # records handed out after a later one, and by how much (last take)

    def add(self, partition: Hashable, records: Sequence[Timed], arrived: float = 0.0) -> None:
        if records:
            self._queues.setdefault(partition, deque()).extend((r, arrived) for r in records)

    def buffered(self, partition: Hashable) -> int:
        queue = self._queues.get(partition)
        return len(queue) if queue else 0

    def forget(self, partitions: Iterable[Hashable] | None = None) -> None:
        """Drop what is buffered (all of it, or these partitions'): their positions were set again, and what they
        bring next is read again, not late."""
        if partitions is None:
            self._queues.clear()
            self._latest = None
        for partition in partitions or ():
            self._queues.pop(partition, None)
            self._latest = None

    def take(
        self, limit: int, unread: set[Hashable], caught_up: set[Hashable], settled: float = float("inf")
    ) -> list[Any]:
        """Up to `limit` records in time order (ties: partition, then offset). `unread`: partitions that may hold
        records not fetched yet; one of them with nothing buffered stops the merge (it may hold earlier ones).
        A partition drained here stops it too unless it is in `caught_up` (read to its end). While a partition
        in `caught_up` has nothing buffered, only records that arrived by `settled` go out."""
        self.late = self.behind_ms = 0
        if any(not self._queues.get(p) for p in unread):
            return []
        heads = [(q[0][0].timestamp, _order(p), q[0][0].offset, p) for p, q in self._queues.items() if q]
        heapq.heapify(heads)
        idle = any(not self._queues.get(p) for p in caught_up)
        out: list[Any] = []
        while heads and len(out) < limit:
            partition = heads[0][3]
            queue = self._queues[partition]
            if idle and queue[0][1] > settled:
                break  # an earlier record may still be on its way to an idle partition
            heapq.heappop(heads)
            record = queue.popleft()[0]
            self._note(record.timestamp)
            out.append(record)
            if queue:
                head = queue[0][0]
                heapq.heappush(heads, (head.timestamp, _order(partition), head.offset, partition))
            elif partition not in caught_up:
                break  # its next records, not fetched yet, may be earlier than any other partition's head
            else:
                idle = True
        return out

    def _note(self, timestamp: int) -> None:
        if self._latest is None or timestamp >= self._latest:
            self._latest = timestamp
        else:
            self.late += 1
            self.behind_ms = max(self.behind_ms, self._latest - timestamp)


def _order(partition: Hashable) -> Any:
    return getattr(partition, "partition", partition)
