"""What the benchmark does to the stack: load reference data, publish to alerts.raw, and tell when every effect of
what was published is committed.

"Committed" is read from the pipeline's own bookkeeping: alerts.raw is committed to its end by ingest's group;
alerts.normalized and alerts.correlated are applied to their ends in the correlator's and ticketing's
consumer_offsets (stored in the transaction with the state); the outbox is empty (every incident event is on
incidents.events); and the topic ends did not move meanwhile (each stage publishes its output before it stores
its offsets, so nothing was on its way downstream).

Topic ends come from a fetch's high watermark, not ListOffsets: the dev broker (Tansu) answers ListOffsets with
one past the base offset of a partition's last batch, short of the end.
"""

import asyncio
import time
import uuid
from collections.abc import Iterable

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.shared.kafka import CORRELATED, NORMALIZED, RAW, client_options, new_producer
from services.shared.settings import KafkaSettings

from .stack import Stack
from .storm import StormMix, cmdb, known_errors

RAW_GROUP = "triage-ingest-raw"
APPLIED = {"correlator": NORMALIZED, "ticketing": CORRELATED}
TOPICS = (RAW, NORMALIZED, CORRELATED)

Offsets = dict[TopicPartition, int]


async def load_reference(stack: Stack, mix: StormMix) -> None:
    """The storm's CMDB and known errors, through the correlator's admin API (it answers once its snapshot has
    them)."""
    headers = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(base_url=stack.url("correlator"), headers=headers, timeout=120) as client:
        for path, body in (("/v1/cis", cmdb(mix)), ("/v1/known-errors", known_errors(mix))):
            r = await client.put(path, json=body)
            r.raise_for_status()


async def publish_raw(
    settings: KafkaSettings, bodies: Iterable[bytes], rate: float | None = None, source: bytes = b"alertmanager"
) -> int:
    """Publish webhook bodies to alerts.raw (at `rate` bodies/s when given), acknowledged; returns how many."""
    producer = new_producer(settings, linger_ms=5)
    await producer.start()
    try:
        started, futures = time.perf_counter(), []
        for n, body in enumerate(bodies):
            if rate and n % 4 == 0 and (ahead := n / rate - (time.perf_counter() - started)) > 0:
                await asyncio.sleep(ahead)
            futures.append(await producer.send(RAW, body, headers=[("source", source)]))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)


class Watcher:
    """Reads the pipeline's progress: committed and stored offsets, true topic ends, the outbox."""

    def __init__(self, settings: KafkaSettings, db: asyncpg.Pool):
        self._settings, self._db = settings, db
        # Assigned, never subscribed: reads the ingest group's committed offsets without joining the group.
        self._raw_group = AIOKafkaConsumer(**client_options(settings), group_id=RAW_GROUP, enable_auto_commit=False)
        self._tail = AIOKafkaConsumer(
            **client_options(settings),
            group_id=f"bench-tail-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
            max_partition_fetch_bytes=64 * 1024,
        )
        self._parts: list[TopicPartition] = []

    async def __aenter__(self) -> "Watcher":
        await self._raw_group.start()
        await self._tail.start()
        await self._tail.topics()
        self._parts = [TopicPartition(t, p) for t in TOPICS for p in sorted(self._tail.partitions_for_topic(t) or ())]
        self._tail.assign(self._parts)
        self._tail.pause(*self._parts)  # fetches only while ends() asks: idle polling would load the broker
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._tail.stop()
        await self._raw_group.stop()

    async def ends(self) -> Offsets:
        """The true end of each partition, as of this call: the high watermark of a fetch sent after it began
        (two fetch rounds, as the first may have been in flight)."""
        self._tail.resume(*self._parts)
        try:
            for _ in range(2):
                asked = time.time() * 1000
                for tp, end in (await self._tail.end_offsets(self._parts)).items():
                    self._tail.seek(tp, end)
                while any((self._tail.last_poll_timestamp(tp) or 0) <= asked for tp in self._parts):
                    await self._tail.getmany(timeout_ms=10)
            return {tp: self._tail.highwater(tp) or 0 for tp in self._parts}
        finally:
            self._tail.pause(*self._parts)

    async def remaining(self, ends: Offsets) -> int:
        """Records up to `ends` not yet applied by some stage, plus incident events not yet published."""
        done: Offsets = {}
        for tp in ends:
            if tp.topic == RAW:
                done[tp] = (await self._raw_group.committed(tp)) or 0
        for service, topic in APPLIED.items():
            rows = await self._db.fetch(
                f"SELECT partition, next_offset FROM {service}.consumer_offsets WHERE topic = $1",  # noqa: S608
                topic,
            )
            done.update({TopicPartition(topic, r["partition"]): r["next_offset"] for r in rows})
        behind = sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())
        return behind + await self._db.fetchval("SELECT count(*) FROM ticketing.outbox")

    async def told(self, within: float, interval: float = 0.25) -> float:
        """perf_counter() once the correlator holds no repeat back (their last counts are told by its sweep when
        the repeat interval ends) and what it told is applied: every incident's count is final."""
        deadline = time.monotonic() + within
        while await self._db.fetchval("SELECT count(*) FROM correlator.alerts WHERE tell_at IS NOT NULL"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"repeats still held after {within:.0f}s")
            await asyncio.sleep(interval)
        return await self.drained(max(1.0, deadline - time.monotonic()))

    async def drained(self, within: float, interval: float = 0.1) -> float:
        """perf_counter() at a check that found every stage caught up with the topic ends, confirmed by the ends
        not having moved since (so no stage's output was still on its way downstream). ListOffsets (at or short
        of the true ends) rules out most checks cheaply; only a check it passes fetches the true ends."""
        deadline = time.monotonic() + within
        while True:
            left = await self.remaining(await self._tail.end_offsets(self._parts))
            if left == 0:
                ends = await self.ends()
                left = await self.remaining(ends)
                at = time.perf_counter()
                if left == 0 and await self.ends() == ends and await self.remaining(ends) == 0:
                    return at
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} records or events still not applied after {within:.0f}s")
            await asyncio.sleep(interval)
