"""A time-ordered consumer on a real broker: with an order grace, a partition read to its end holds the others'
later records back while an earlier record is on its way to it, and lets them go once the grace has passed."""

import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from services.ingest.raw import NoStoredOffsets
from services.shared.kafka import BatchConsumer, client_options, ensure_topics
from services.shared.settings import KafkaSettings

GRACE = 3.0  # above the 1 s a partition not read to its end holds the others


def test_an_earlier_record_arriving_late_on_a_quiet_partition_goes_first(kafka_settings):
    order = asyncio.run(_consume(kafka_settings, [(0, 10_000, 0.0), (1, 5_000, 1.5)], expected=2))
    assert [ts for ts, _ in order] == [5_000, 10_000]


def test_with_nothing_on_its_way_the_held_record_goes_once_the_grace_has_passed(kafka_settings):
    order = asyncio.run(_consume(kafka_settings, [(0, 10_000, 0.0)], expected=1))
    [(ts, waited)] = order
    assert ts == 10_000 and waited >= GRACE * 0.9


def test_a_record_arriving_past_the_grace_is_taken_late_and_counted(kafka_settings, caplog):
    topic = f"order-{uuid.uuid4().hex[:8]}"
    order = asyncio.run(_consume(kafka_settings, [(0, 10_000, 0.0), (1, 5_000, 1.5)], 2, grace=0.3, topic=topic))
    assert [ts for ts, _ in order] == [10_000, 5_000]
    assert REGISTRY.get_sample_value("triage_records_out_of_order_total", {"topic": topic}) == 1
    assert f"{topic}: 1 records taken after a record up to 5000 ms later" in caplog.text
    # Every applied batch is timed and sized: 4 records (2 warm-up, 2 sent) in however many batches they came.
    batches = REGISTRY.get_sample_value("triage_consumer_batch_seconds_count", {"topic": topic})
    assert batches and batches == REGISTRY.get_sample_value("triage_consumer_batch_records_count", {"topic": topic})
    assert REGISTRY.get_sample_value("triage_consumer_batch_records_sum", {"topic": topic}) == 4


async def _consume(
    kafka: KafkaSettings,
    sends: list[tuple[int, int, float]],
    expected: int,
    grace: float = GRACE,
    topic: str | None = None,
) -> list:
    """Sends (partition, timestamp ms, delay before) to a fresh 2-partition topic once the consumer has read both
    partitions to their end; returns (timestamp, seconds since the first send) as the handler got them."""
    kafka = kafka.model_copy(update={"kafka_partitions": 2, "order_grace_ms": int(grace * 1000)})
    topic = topic or f"order-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic])
    got: list[tuple[int, float]] = []
    warm, done, started = asyncio.Event(), asyncio.Event(), [0.0]

    async def handle(records: list) -> None:
        got.extend((r.timestamp, time.monotonic() - started[0]) for r in records)
        if len(got) >= 2:
            warm.set()
        if len(got) >= 2 + expected:
            done.set()

    consumer = BatchConsumer(kafka, topic, f"g-{topic}", NoStoredOffsets(), handle, time_ordered=True)
    running = asyncio.create_task(consumer.run())
    producer = AIOKafkaProducer(**client_options(kafka), acks="all")
    await producer.start()
    try:
        for partition in (0, 1):  # one record each, applied: both partitions fetched and read to their end
            await (await producer.send(topic, b"x", partition=partition, timestamp_ms=1))
        await asyncio.wait_for(warm.wait(), 20)
        await asyncio.sleep(0.5)
        started[0] = time.monotonic()
        for partition, ts, delay in sends:
            await asyncio.sleep(delay)
            await (await producer.send(topic, b"x", partition=partition, timestamp_ms=ts))
        await asyncio.wait_for(done.wait(), 20)
    finally:
        await producer.stop()
        consumer.stop()
        await running
    return got[2:]
