"""A consumer whose offsets live in its database commits them to the broker too, for lag tools, but in the
background: on a real broker, every batch's offsets reach the group's committed offsets by the time the consumer
has stopped, though no batch waited for its commit."""

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from chaos.progress import log_end_offsets
from services.shared.kafka import BatchConsumer, OffsetStore, client_options, ensure_topics

from .kafka_tools import produce


class FromTheStart(OffsetStore):
    """Authoritative, as the services' database offsets are; nothing applied yet."""

    async def load(self, partitions: object) -> dict:
        return {}


def test_every_batch_is_committed_to_the_broker_by_the_time_the_consumer_stops(kafka_settings):
    topic = f"commits-{uuid.uuid4().hex[:8]}"
    group = f"g-{topic}"
    asyncio.run(ensure_topics(kafka_settings, [topic]))
    sent = 600
    asyncio.run(produce(kafka_settings, topic, [(f"k{i}".encode(), b"x", []) for i in range(sent)]))
    ends = {p: e for p, e in asyncio.run(log_end_offsets(kafka_settings, topic)).items() if e}
    batches = asyncio.run(_consume(kafka_settings, topic, group, sent))
    assert len(batches) > 1 and sum(batches) == sent  # several batches, so several commits overlapped
    assert asyncio.run(_committed(kafka_settings, topic, group, ends)) == ends


async def _consume(kafka, topic: str, group: str, expected: int) -> list[int]:
    sizes: list[int] = []
    done = asyncio.Event()

    async def handle(records: list) -> None:
        sizes.append(len(records))
        if sum(sizes) >= expected:
            done.set()

    consumer = BatchConsumer(kafka, topic, group, FromTheStart(), handle, max_records=50)
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        consumer.stop()
        await running
    return sizes


async def _committed(kafka, topic: str, group: str, ends: dict[int, int]) -> dict[int, int]:
    reader = AIOKafkaConsumer(**client_options(kafka), group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return {p: await reader.committed(TopicPartition(topic, p)) for p in ends}
    finally:
        await reader.stop()
