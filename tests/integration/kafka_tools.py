"""Reading and writing topics directly, to check what the services put there."""

import asyncio
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from chaos.progress import log_end_offsets
from services.shared.kafka import client_options
from services.shared.settings import KafkaSettings


async def end_offsets(settings: KafkaSettings, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(**client_options(settings))
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not parts:
            await consumer.topics()  # refreshes metadata
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(parts)).items()}
    finally:
        await consumer.stop()


async def read_all(
    settings: KafkaSettings,
    topic: str,
    until=lambda records: True,
    seconds: float = 10.0,
    start: dict[int, int] | None = None,
) -> list:
    """Every record of `topic` (from `start` offsets, or the beginning) until `until(records)` or timeout."""
    # A throwaway group: aiokafka's group-less consumer raises CancelledError from stop() on this version.
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=f"test-reader-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.topics()  # refreshes metadata
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        for tp in parts:
            if start and tp.partition in start:
                consumer.seek(tp, start[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
        records: list = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
            if records and until(records):
                break
        return records
    finally:
        await consumer.stop()


async def produce(
    settings: KafkaSettings,
    topic: str,
    items: list[tuple[bytes | None, bytes, list]] | list[tuple[bytes | None, bytes, list, int]],
    **producer_options,
) -> None:
    """(key, value, headers) records, or (key, value, headers, timestamp_ms) to stamp each with a time of its own."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", **producer_options)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers, timestamp_ms=at[0] if at else None)
            for key, value, headers, *at in items
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def eventually(check, timeout: float = 15.0, interval: float = 0.1):
    """Poll `check()` until it returns a truthy value; the last assertion error explains a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            error = AssertionError(f"still {result!r}")
        except AssertionError as exc:
            error = exc
        if time.monotonic() > deadline:
            raise error
        time.sleep(interval)


async def stored_offsets(url: str, schema: str, topic: str) -> dict[int, int]:
    """A service's own record of what it applied: next offset per partition, from its schema."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            f"SELECT partition, next_offset FROM {schema}.consumer_offsets WHERE topic = $1",  # noqa: S608 - a constant
            topic,
        )
        return {r["partition"]: r["next_offset"] for r in rows}
    finally:
        await conn.close()


def applied_all(kafka: KafkaSettings, url: str, schema: str, topic: str) -> bool:
    """Whether the service's stored offsets are at the true end of every non-empty partition of `topic`."""
    ends = {p: e for p, e in asyncio.run(log_end_offsets(kafka, topic)).items() if e}
    return asyncio.run(stored_offsets(url, schema, topic)) == ends
