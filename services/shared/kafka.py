"""Kafka plumbing: topic names, client security options, acknowledged publishing, dead letters,
and a batch consumer whose offsets live in the service's database."""

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from prometheus_client import Gauge

from .backoff import retry_forever
from .settings import KafkaSettings

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


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


class Publisher:
    """A producer that starts lazily and reports each batch as acknowledged or BrokerUnavailable."""

    def __init__(self, settings: KafkaSettings, timeout: float = 5.0, **overrides: Any):
        self._settings, self._timeout, self._overrides = settings, timeout, overrides
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
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
        """Send all messages pipelined; return only once every one is acknowledged by the broker."""
        producer = await self._started()
        try:
            async with asyncio.timeout(self._timeout):
                futures = [await producer.send(m.topic, m.value, key=m.key, headers=m.headers) for m in messages]
                await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}") from None

    async def check(self) -> str | None:
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self._timeout)
            return None
        except (BrokerUnavailable, KafkaError, OSError, TimeoutError) as exc:
            return f"broker unreachable: {exc}"

    async def stop(self) -> None:
        if self._producer is not None:
            await _quietly(self._producer.stop())
            self._producer = None


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

    async def load(self, partitions: Iterable[TopicPartition]) -> Offsets:  # pragma: no cover - interface
        raise NotImplementedError


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, consumer: AIOKafkaConsumer, store: OffsetStore):
        self._consumer, self._store = consumer, store

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        # The database, not the broker, says what has been applied: resume exactly after it.
        stored = await retry_forever(lambda: self._store.load(assigned), "load offsets")
        ends = await self._consumer.end_offsets(list(stored)) if stored else {}
        for tp, offset in stored.items():
            if offset > ends.get(tp, offset):
                # The log is shorter than what we applied: the topic was recreated (a memory broker restarted).
                log.warning(
                    "stored offset %d is past the end (%d) of %s; topic recreated, reading it from the start",
                    offset,
                    ends[tp],
                    tp,
                )
                offset = 0
            self._consumer.seek(tp, offset)


BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[None]]


class BatchConsumer:
    """getmany -> handler(batch) -> commit. The handler applies the batch and stores the next offsets in
    its database transaction; a failing handler is retried with backoff on the same batch (backpressure),
    so nothing is skipped and nothing is applied twice."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        group: str,
        store: OffsetStore,
        handler: BatchHandler,
        max_records: int = 2000,
        poll_ms: int = 50,
    ):
        self._settings, self._topic, self._group = settings, topic, group
        self._store, self._handler = store, handler
        self._max_records, self._poll_ms = max_records, poll_ms
        self._stopping = asyncio.Event()
        self.healthy_reason: str | None = "starting"

    async def run(self) -> None:
        consumer = await retry_forever(self._start_consumer, f"connect consumer for {self._topic}")
        applied: Offsets = {}
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=self._poll_ms, max_records=self._max_records)
                records = [r for tp in sorted(batches, key=lambda t: t.partition) for r in batches[tp]]
                if records:
                    await self._apply(records)
                    await self._commit(consumer, records)
                    applied.update(next_offsets(records))
                self.healthy_reason = None
                self._report_lag(consumer, applied)
        finally:
            await _quietly(consumer.stop())

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
            # The default 500 ms long-poll adds up to half a second per hop; 5 ms costs little CPU.
            fetch_max_wait_ms=5,
        )
        try:
            await consumer.start()
            consumer.subscribe([self._topic], listener=_SeekToStored(consumer, self._store))
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
            except Exception as exc:  # database down or slow: hold the batch, report, retry
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

    async def _commit(self, consumer: AIOKafkaConsumer, records: list[ConsumerRecord]) -> None:
        try:
            await consumer.commit(next_offsets(records))
        except KafkaError as exc:  # the database already holds these offsets; this one only feeds lag metrics
            log.info("offset commit to the broker failed (database offsets stand): %r", exc)

    def stop(self) -> None:
        self._stopping.set()
