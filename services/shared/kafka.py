"""Kafka plumbing: topic names, client security options, acknowledged publishing, dead letters,
and a batch consumer whose offsets live in the service's database."""

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, NamedTuple

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.producer.message_accumulator import BatchBuilder
from prometheus_client import Counter, Gauge, Histogram

from .backoff import retry_forever
from .partitioning import KeyPartitions
from .settings import KafkaSettings
from .time_order import TimeOrder

log = logging.getLogger(__name__)

RAW = "alerts.raw"
NORMALIZED = "alerts.normalized"
CORRELATED = "alerts.correlated"
INCIDENT_EVENTS = "incidents.events"
DEAD_LETTER = "alerts.dlq"
ALL_TOPICS = (RAW, NORMALIZED, CORRELATED, INCIDENT_EVENTS, DEAD_LETTER)

CONSUMER_LAG = Gauge(
    "triage_consumer_lag_records", "Records not yet applied on this instance's partitions of a topic", ["topic"]
)

Headers = list[tuple[str, bytes]]


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; nothing may be reported as accepted."""


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:  # mutual TLS: the client proves who it is (Strimzi `tls` users)
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
        opts["ssl_context"] = context
    if settings.kafka_sasl_mechanism:
        opts.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return opts


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str] = ALL_TOPICS) -> list[str]:
    """Create missing topics; returns the ones created. Safe to run any number of times."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                replicas = settings.kafka_replication_factor
                await admin.create_topics([NewTopic(t, settings.kafka_partitions, replicas) for t in missing])
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()


def new_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    # acks=all and no idempotence: at-least-once, and consumers are idempotent (the broker in dev
    # rejects InitProducerId, and nothing in the design needs it).
    opts = {
        "acks": "all",
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "enable_idempotence": False,
    } | overrides
    return AIOKafkaProducer(**client_options(settings), **opts)


class Outgoing(NamedTuple):
    """A record to produce. A named tuple: every service makes one per record it sends, at ~40 % of a frozen
    dataclass's cost."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int | None = None  # the record's time; None: when it is sent


class Publisher:
    """A producer that starts lazily and reports each batch as acknowledged or BrokerUnavailable.

    Concurrent publishes share batches: each waits its turn in a queue that one sender hands to the producer a
    group at a time, one batch per partition for the whole group. The producer takes one batch per partition
    while another is on its way, so without the queue each concurrent publish (an HTTP request, say) waited for
    its own turn per partition: at 200 requests/s they fell behind and timed out inside the producer."""

    def __init__(self, settings: KafkaSettings, timeout: float = 5.0, **overrides: Any):
        self._settings, self._timeout, self._overrides = settings, timeout, overrides
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._partitions: dict[str, KeyPartitions] = {}
        self._waiting: list[tuple[Sequence[Outgoing], asyncio.Future[list[asyncio.Future]]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._stopped = False

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._stopped:
                raise _stopped_error()
            if self._producer is None:
                producer = new_producer(self._settings, **self._overrides)
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await _quietly(producer.stop())
                    raise BrokerUnavailable(f"broker unreachable: {exc!r}") from None
                self._producer = producer
            return self._producer

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send all messages pipelined, in their order per partition; return only once every one is acknowledged
        by the broker. The broker is unavailable when `timeout` passes without progress (the messages handed to
        the producer, or one of their batches acknowledged), not when a big batch takes longer than that: a batch
        of thousands under load timed out, was sent again whole, and again."""
        await self._started()
        loop = asyncio.get_running_loop()
        handed: asyncio.Future[list[asyncio.Future]] = loop.create_future()
        self._waiting.append((messages, handed))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting(), name="publisher")
        try:
            async with asyncio.timeout(self._timeout) as deadline:

                def progress(_: asyncio.Future) -> None:
                    with contextlib.suppress(RuntimeError):  # the wait is over already
                        deadline.reschedule(loop.time() + self._timeout)

                futures = await handed
                progress(handed)
                for future in futures:
                    future.add_done_callback(progress)
                if futures:  # waited for without gather: a publish called off must not cancel what others share
                    await asyncio.wait(futures)
                for future in futures:
                    future.result()
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}") from None

    async def _send_waiting(self) -> None:
        """Hand the waiting publishes to the producer, a group at a time, in the order they came. A publish
        called off before its group is taken is not sent."""
        while self._waiting:
            group = [(messages, handed) for messages, handed in self._waiting if not handed.done()]
            self._waiting = []
            futures: list[list[asyncio.Future]] = [[] for _ in group]
            try:
                producer = await self._started()
                for (topic, partition), batch, members in await self._batches(producer, [m for m, _ in group]):
                    future = await producer.send_batch(batch, topic, partition=partition)
                    for member in members:
                        futures[member].append(future)
            except Exception as exc:  # the producer's error is each publish's, which reports it
                _fail(group, exc)
                continue
            except asyncio.CancelledError:  # stopped
                _fail(group, _stopped_error())
                raise
            for (_, handed), handed_futures in zip(group, futures, strict=True):
                if not handed.done():
                    handed.set_result(handed_futures)

    async def _batches(
        self, producer: AIOKafkaProducer, group: Sequence[Sequence[Outgoing]]
    ) -> list[tuple[tuple[str, int], BatchBuilder, set[int]]]:
        """The group's messages in batches per partition, in their order (a full batch is followed by another),
        each with the group members it holds: one batch costs far less than a send per record."""
        for topic in {m.topic for messages in group for m in messages}:
            partitions = await producer.partitions_for(topic)
            if topic not in self._partitions or set(self._partitions[topic].partitions) != partitions:
                self._partitions[topic] = KeyPartitions(list(partitions))
        batches: list[tuple[tuple[str, int], BatchBuilder, set[int]]] = []
        filling: dict[tuple[str, int], tuple[BatchBuilder, set[int]]] = {}
        for member, messages in enumerate(group):
            for m in messages:
                tp = (m.topic, self._partitions[m.topic].of(m.key))
                filled = filling.get(tp)
                if filled is None or not filled[0].append(
                    timestamp=m.timestamp_ms, key=m.key, value=m.value, headers=m.headers
                ):
                    filled = filling[tp] = (producer.create_batch(), set())
                    filled[0].append(timestamp=m.timestamp_ms, key=m.key, value=m.value, headers=m.headers)
                    batches.append((tp, *filled))
                filled[1].add(member)
        return batches

    async def check(self) -> str | None:
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self._timeout)
            return None
        except (BrokerUnavailable, KafkaError, OSError, TimeoutError) as exc:
            return f"broker unreachable: {exc}"

    async def stop(self) -> None:
        """Hand nothing more to the producer, fail the publishes still waiting for their turn, and stop the
        producer once it sent what it has. A stopped publisher stays stopped: a late publish would otherwise start
        a producer nobody stops."""
        self._stopped = True
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        _fail(self._waiting, _stopped_error())
        self._waiting = []
        if self._producer is not None:
            await _quietly(self._producer.stop())
            self._producer = None


def _stopped_error() -> BrokerUnavailable:
    return BrokerUnavailable("the publisher is stopped")


def _fail(waiting: Iterable[tuple[Any, asyncio.Future]], error: BaseException) -> None:
    for _, handed in waiting:
        if not handed.done():
            handed.set_exception(error)


@contextlib.asynccontextmanager
async def publishing(publisher: Publisher, messages: Sequence[Outgoing]) -> AsyncIterator[None]:
    """Publish `messages` while the block runs (a transaction's writes, say); the block ends only once every one
    is acknowledged, raising BrokerUnavailable if not. If the block fails, the publishing is called off (what
    went out already goes out again with the retry: consumers are idempotent)."""
    sending = asyncio.create_task(publisher.publish(messages))
    try:
        yield
    except BaseException:
        sending.cancel()
        with contextlib.suppress(BaseException):
            await sending
        raise
    await sending


async def _quietly(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as exc:  # shutting down a client that never connected
        log.debug("ignored while stopping a Kafka client: %r", exc)


def dead_letter(record: ConsumerRecord, reason: str) -> Outgoing:
    """The original bytes, with headers naming why and where it came from."""
    headers: Headers = list(record.headers or ()) + [
        ("dlq.reason", reason.encode()[:1024]),
        ("dlq.topic", record.topic.encode()),
        ("dlq.partition", str(record.partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
    ]
    return Outgoing(DEAD_LETTER, record.key, record.value or b"", headers)


Offsets = dict[TopicPartition, int]


def next_offsets(records: Iterable[ConsumerRecord]) -> Offsets:
    """The position after a batch: per partition, one past its last record."""
    offsets: Offsets = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


class OffsetStore:
    """Where a consumer's next offsets are kept; written in the same transaction as the state."""

    # The store says where to resume, and the offsets committed to the broker only feed lag tools: that commit is
    # sent in the background instead of holding up the next batch (a round trip per batch on the hot path).
    authoritative = True

    async def load(self, partitions: Iterable[TopicPartition]) -> Offsets:  # pragma: no cover - interface
        raise NotImplementedError


class _SeekToStored(ConsumerRebalanceListener):
    """On a rebalance, the batch in flight is applied (with its offsets) first; then each partition resumes where
    the store says. Without the wait, offsets loaded while a batch was still being applied sent the consumer back
    over that batch, and it was applied a second time."""

    def __init__(self, consumer: AIOKafkaConsumer, store: OffsetStore, batch: "BatchConsumer"):
        self._consumer, self._store, self._batch = consumer, store, batch

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._batch.applying:
            self._batch.forget_buffered()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self._batch.applying:
            # The database, not the broker, says what has been applied: resume exactly after it.
            stored = await retry_forever(lambda: self._store.load(assigned), "load offsets")
            self._batch.forget_buffered()
            for tp, offset in stored.items():
                self._consumer.seek(tp, offset)
            log.info("assigned %s; resuming from stored offsets %s", sorted(assigned), stored)


async def _rewind_recreated(consumer: AIOKafkaConsumer, fetched: Iterable[TopicPartition]) -> set[TopicPartition]:
    """A position past the end of the log means the topic was recreated (a memory broker restarted) after we
    applied that far: read it from the start. The end is the high watermark of the latest fetch, not ListOffsets,
    which the dev broker (Tansu) answers short of the end (one past the last batch's base offset): trusting it
    replayed whole partitions after every restart."""
    rewound = set()
    for tp in consumer.assignment() - set(fetched):
        end = consumer.highwater(tp)
        if end is not None and (position := await consumer.position(tp)) > end:
            log.warning(
                "position %d is past the end (%d) of %s; topic recreated, reading it from the start", position, end, tp
            )
            await consumer.seek_to_beginning(tp)
            rewound.add(tp)
    return rewound


async def _still_current(
    consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]
) -> dict[TopicPartition, list[ConsumerRecord]]:
    """The fetched records, in partition order, less those a rebalance since the fetch made stale: their partition
    went elsewhere, or its position was set again from the store; either way they are fetched again from there."""
    current = {}
    for tp in sorted(batches, key=lambda t: t.partition):
        fetched = batches[tp]
        if fetched and tp in consumer.assignment() and await consumer.position(tp) == fetched[-1].offset + 1:
            current[tp] = fetched
    return current


async def _at_end(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    end = consumer.highwater(tp)
    return end is not None and await consumer.position(tp) >= end


BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[None]]
# Dead-letters one record that cannot be applied and stores the offset past it.
PoisonHandler = Callable[[ConsumerRecord, str], Awaitable[None]]
Transient = Callable[[BaseException], bool]

# make chaos counts these warnings in the services' logs (chaos/run.py): its test formats them from here.
STALL_WARNING = "%s partitions %s brought nothing for %.1fs: going on without them"
LATE_WARNING = "%s: %d records taken after a record up to %d ms later (they arrived late)"
OUT_OF_ORDER = Counter(
    "triage_records_out_of_order_total",
    "Records of a time-ordered topic applied after a record with a later timestamp: they arrived past "
    "ORDER_GRACE_MS or ORDER_MAX_WAIT_MS",
    ["topic"],
)
BATCH_SECONDS = Histogram(
    "triage_consumer_batch_seconds",
    "Time to apply one consumed batch (decode, database transaction, publish), by topic",
    ["topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_RECORDS = Histogram(
    "triage_consumer_batch_records",
    "Records in one consumed batch, by topic",
    ["topic"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000),
)
POISONED = Counter(
    "triage_poison_records_total",
    "Records dead-lettered because applying them failed on their own with an error that retrying cannot cure",
    ["topic"],
)


class BatchConsumer:
    """getmany -> handler(batch) -> commit. The handler applies the batch and stores the next offsets in
    its database transaction; a batch failing for a transient reason (database or broker down) is retried with
    backoff as it is (backpressure), so nothing is skipped and nothing is applied twice. A batch failing for any
    other reason is split in halves until the record that fails alone is found; with a `poison` handler, that
    record is dead-lettered and the partition moves on (without one, it is retried like the rest)."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        group: str,
        store: OffsetStore,
        handler: BatchHandler,
        max_records: int = 2000,
        poll_ms: int = 50,
        poison: PoisonHandler | None = None,
        transient: Transient = lambda _: True,
        time_ordered: bool = False,
    ):
        self._settings, self._topic, self._group = settings, topic, group
        self._store, self._handler = store, handler
        self._poison, self._transient = poison, transient
        # time_ordered: the partitions' records are merged by record timestamp (services.shared.time_order); a
        # partition that brings nothing for ORDER_MAX_WAIT_MS while not read to its end stops holding the rest;
        # one read to its end with nothing buffered holds back each record of the others for ORDER_GRACE_MS after
        # it arrived, for earlier records still on their way to it.
        self._order = TimeOrder() if time_ordered else None
        self._max_wait, self._grace = settings.order_max_wait_ms / 1000, settings.order_grace_ms / 1000
        self._stalled_since: float | None = None
        self._max_records, self._poll_ms = max_records, poll_ms
        self._committing: asyncio.Task[None] | None = None
        self._uncommitted: Offsets = {}
        self._stopping = asyncio.Event()
        self.healthy_reason: str | None = "starting"
        self.applying = asyncio.Lock()  # held while a batch is applied

    async def run(self) -> None:
        consumer = await retry_forever(self._start_consumer, f"connect consumer for {self._topic}")
        applied: Offsets = {}
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=self._poll_ms, max_records=self._max_records)
                rewound = await _rewind_recreated(consumer, batches)
                async with self.applying:
                    self.forget_buffered(rewound)
                    records = await self._next(consumer, await _still_current(consumer, batches))
                    if records:
                        started = time.perf_counter()
                        await self._apply(records)
                        BATCH_SECONDS.labels(self._topic).observe(time.perf_counter() - started)
                        BATCH_RECORDS.labels(self._topic).observe(len(records))
                if records:
                    # Outside the lock: a commit may wait for a rebalance, which waits for the lock.
                    done = next_offsets(records)
                    await self._commit_after(consumer, done)
                    applied.update(done)
                self.healthy_reason = None
                self._report_lag(consumer, applied)
        finally:
            await _quietly(self._commit_rest(consumer))
            await _quietly(consumer.stop())

    def forget_buffered(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Records fetched but not applied are dropped when their partitions' positions are set again."""
        if self._order is not None:
            self._order.forget(partitions)

    async def _next(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[ConsumerRecord]]
    ) -> list[ConsumerRecord]:
        """The next batch to apply: as fetched, or merged by time across partitions."""
        if self._order is None:
            return [r for records in fetched.values() for r in records]
        now = asyncio.get_running_loop().time()
        for tp, records in fetched.items():
            self._order.add(tp, records, now)
        assigned = consumer.assignment()
        caught_up = {tp for tp in assigned if await _at_end(consumer, tp)}
        records = self._order.take(self._max_records, assigned - caught_up, caught_up, now - self._grace)
        if records or not any(self._order.buffered(tp) for tp in assigned):
            self._stalled_since = None
        elif self._stalled_since is None:
            self._stalled_since = now
        elif now - self._stalled_since > self._max_wait:
            # A partition that should have more brings nothing (a slow leader): the others go on without it.
            empty = sorted(tp.partition for tp in assigned - caught_up if not self._order.buffered(tp))
            log.warning(STALL_WARNING, self._topic, empty, self._max_wait)
            records = self._order.take(self._max_records, set(), set(assigned), now - self._grace)
            self._stalled_since = None
        if self._order.late:
            OUT_OF_ORDER.labels(self._topic).inc(self._order.late)
            log.warning(LATE_WARNING, self._topic, self._order.late, self._order.behind_ms)
        self._pause_full(consumer, assigned)
        return records

    def _pause_full(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Memory stays bounded: a partition far ahead of the others stops being fetched until they catch up."""
        assert self._order is not None
        full = {tp for tp in assigned if self._order.buffered(tp) >= 4 * self._max_records}
        paused = consumer.paused()
        if full - paused:
            consumer.pause(*(full - paused))
        if (paused & assigned) - full:
            consumer.resume(*((paused & assigned) - full))

    def _report_lag(self, consumer: AIOKafkaConsumer, applied: Offsets) -> None:
        """Records between what this instance applied and the end of its partitions, from fetch metadata."""
        lag = 0
        for tp in consumer.assignment():
            end, done = consumer.highwater(tp), applied.get(tp)
            if end is not None and done is not None:
                lag += max(0, end - done)
        CONSUMER_LAG.labels(self._topic).set(lag)

    async def _start_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **client_options(self._settings),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # The broker answers a long poll as soon as records arrive; the wait only bounds how often an idle
            # consumer asks. 500 ms (the default) added up to half a second per hop on the dev broker; 5 ms cost
            # an idle stack a third of a core in polling.
            fetch_max_wait_ms=50,
        )
        try:
            await consumer.start()
            consumer.subscribe([self._topic], listener=_SeekToStored(consumer, self._store, self))
        except BaseException:
            await _quietly(consumer.stop())
            raise
        return consumer

    async def _apply(self, records: list[ConsumerRecord]) -> None:
        delay = 0.1
        while True:
            try:
                await self._handler(records)
                return
            except Exception as exc:
                if self._poison is not None and not self._transient(exc):
                    await self._isolate(records, exc)
                    return
                # Database or broker down or slow: hold the batch, report, retry.
                self.healthy_reason = f"batch not applied, retrying: {type(exc).__name__}: {exc}"
                log.warning(
                    "batch of %d from %s not applied, retry in %.1fs: %r",
                    len(records),
                    self._topic,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _isolate(self, records: list[ConsumerRecord], exc: Exception) -> None:
        """Apply `records` around the ones that fail alone: halves in order, so each partition's stored offset
        only moves forward; ~log2(batch) extra transactions per poison record."""
        assert self._poison is not None
        if len(records) > 1:
            middle = len(records) // 2
            await self._apply(records[:middle])
            await self._apply(records[middle:])
            return
        [record] = records
        reason = f"not applicable: {type(exc).__name__}: {exc}"
        log.error("dead-lettering %s/%d/%d: %s", record.topic, record.partition, record.offset, reason)
        await retry_forever(lambda: self._poison(record, reason), "dead-letter a poison record")  # type: ignore[misc]
        POISONED.labels(record.topic).inc()

    async def _commit_after(self, consumer: AIOKafkaConsumer, offsets: Offsets) -> None:
        """Commit a batch's offsets to the broker: at once when that is the consumer's position, else in the
        background, one commit in flight, later offsets going with the next."""
        if not self._store.authoritative:
            await self._commit(consumer, offsets)
            return
        self._uncommitted.update(offsets)
        if self._committing is None or self._committing.done():
            offsets, self._uncommitted = self._uncommitted, {}
            self._committing = asyncio.create_task(self._commit(consumer, offsets))

    async def _commit_rest(self, consumer: AIOKafkaConsumer) -> None:
        if self._committing is not None:
            await self._committing
        if self._uncommitted:
            await self._commit(consumer, self._uncommitted)
            self._uncommitted = {}

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: Offsets) -> None:
        # Bounded: the client retries some errors forever, and the loop must not hang on a commit.
        try:
            await asyncio.wait_for(consumer.commit(offsets), 10)
        except (KafkaError, TimeoutError) as exc:  # the database holds these offsets; this one feeds lag metrics
            log.info("offset commit to the broker failed (database offsets stand): %r", exc)

    def stop(self) -> None:
        self._stopping.set()
