"""Publishing in one batch per partition: every record lands where the producer's own partitioner would put it,
in order within its partition, with its key, headers and time, on several topics at once."""

import asyncio
import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner

from devstack.broker import free_port
from services.shared.kafka import BrokerUnavailable, Outgoing, Publisher, ensure_topics, publishing

from .kafka_tools import read_all


def test_records_land_on_their_keys_partitions_in_order(kafka_settings):
    topics = [f"publish-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    messages = [
        Outgoing(topics[i % 2], f"fp-{i % 50}".encode(), f"{i}".encode(), [("n", f"{i}".encode())], 1_000 + i)
        for i in range(3000)
    ]
    big = Outgoing(topics[0], b"fp-big", b"x" * 300_000, [], 99_000)  # alone larger than a batch (256 KiB)
    messages.insert(1500, big)
    unkeyed = Outgoing(topics[1], None, b"no key", [], 99_001)
    landed = asyncio.run(_publish(kafka_settings, topics, messages + [unkeyed]))

    partitions = list(range(kafka_settings.kafka_partitions))
    for topic in topics:
        records, sent = landed[topic], [m for m in messages + [unkeyed] if m.topic == topic]
        landed_in = {r.value: r.partition for r in records}
        assert sorted(landed_in) == sorted(m.value for m in sent)
        expected = {m.value: _partition(m, partitions, landed_in) for m in sent}
        for p in partitions:
            assert [r.value for r in records if r.partition == p] == [m.value for m in sent if expected[m.value] == p]
    by_value = {r.value: r for records in landed.values() for r in records}
    assert by_value[b"42"].timestamp == 1_042 and list(by_value[b"42"].headers) == [("n", b"42")]
    assert by_value[b"x" * 300_000].timestamp == 99_000


def _partition(m: Outgoing, partitions: list[int], landed_in: dict[bytes, int]) -> int:
    """Where the producer's partitioner puts a keyed record; an unkeyed one may go anywhere."""
    return landed_in[m.value] if m.key is None else DefaultPartitioner()(m.key, partitions, partitions)


async def _publish(kafka, topics: list[str], messages: list[Outgoing]) -> dict:
    await ensure_topics(kafka, topics)
    publisher = Publisher(kafka)
    try:
        await publisher.publish(messages)
    finally:
        await publisher.stop()
    return {t: await read_all(kafka, t, lambda rs, t=t: len(rs) >= sum(m.topic == t for m in messages)) for t in topics}


def test_concurrent_publishes_are_all_acknowledged_in_the_order_they_were_called(kafka_settings):
    # As an HTTP edge under load publishes: hundreds at once, each waiting for its acknowledgement. Each one
    # batching on its own queued for its turn per partition inside the producer and timed out there.
    topic = f"concurrent-{uuid.uuid4().hex[:8]}"
    publishes = [
        [Outgoing(topic, f"fp-{(p * 7 + i) % 60}".encode(), f"{p}/{i}".encode(), []) for i in range(30)]
        for p in range(600)
    ]

    async def run() -> list:
        await ensure_topics(kafka_settings, [topic])
        publisher = Publisher(kafka_settings)
        try:
            await publisher.publish([Outgoing(topic, b"warm", b"started", [])])  # so the rest are called together
            await asyncio.gather(*(publisher.publish(messages) for messages in publishes))
        finally:
            await publisher.stop()
        return await read_all(kafka_settings, topic, lambda rs: len(rs) >= 1 + 600 * 30, seconds=30)

    records = [r for r in asyncio.run(run()) if r.key != b"warm"]
    assert sorted(r.value for r in records) == sorted(m.value for messages in publishes for m in messages)
    for partition in range(kafka_settings.kafka_partitions):
        landed = [tuple(map(int, r.value.split(b"/"))) for r in records if r.partition == partition]
        assert landed == sorted(landed)


def test_a_publish_called_off_leaves_the_publishes_sharing_its_batches_unharmed(kafka_settings):
    topic = f"called-off-{uuid.uuid4().hex[:8]}"

    async def run() -> int:
        await ensure_topics(kafka_settings, [topic])
        publisher = Publisher(kafka_settings)
        acknowledged = 0
        try:
            await publisher.publish([Outgoing(topic, b"warm", b"started", [])])
            for n in range(60):
                messages = [Outgoing(topic, f"k{i}".encode(), f"{n}/{i}".encode(), []) for i in range(12)]
                called_off = asyncio.create_task(publisher.publish(messages))
                kept = asyncio.create_task(publisher.publish(messages))
                await asyncio.sleep(n / 20_000)  # called off at points from before the hand-over to the acks
                called_off.cancel()
                await kept
                acknowledged += 1
        finally:
            await publisher.stop()
        return acknowledged

    assert asyncio.run(run()) == 60


def test_stopping_ends_every_publish_in_flight_and_starts_no_producer_again(kafka_settings):
    topic = f"stopping-{uuid.uuid4().hex[:8]}"

    async def run() -> tuple[list, Publisher]:
        await ensure_topics(kafka_settings, [topic])
        publisher = Publisher(kafka_settings, timeout=30)
        await publisher.publish([Outgoing(topic, b"warm", b"started", [])])
        messages = [Outgoing(topic, f"k{i}".encode(), b"v" * 200, []) for i in range(50)]
        publishes = []

        async def keep_publishing() -> None:  # in waves, so the publisher has groups waiting when it stops
            for _ in range(60):
                publishes.extend(asyncio.create_task(publisher.publish(messages)) for _ in range(5))
                await asyncio.sleep(0.001)

        waves = asyncio.create_task(keep_publishing())
        await asyncio.sleep(0.02)
        await publisher.stop()
        await waves
        outcomes = await asyncio.wait_for(asyncio.gather(*publishes, return_exceptions=True), 5)
        await asyncio.sleep(0.1)
        return outcomes, publisher

    outcomes, publisher = asyncio.run(run())
    assert all(outcome is None or isinstance(outcome, BrokerUnavailable) for outcome in outcomes), outcomes
    assert any(isinstance(outcome, BrokerUnavailable) for outcome in outcomes)  # stopped while some were waiting
    assert publisher._producer is None


def test_publishing_ends_with_every_record_on_the_broker(kafka_settings):
    topic = f"publishing-{uuid.uuid4().hex[:8]}"
    messages = [Outgoing(topic, f"k{i}".encode(), f"{i}".encode(), []) for i in range(500)]

    async def run() -> list:
        await ensure_topics(kafka_settings, [topic])
        publisher = Publisher(kafka_settings)
        try:
            async with publishing(publisher, messages):
                await asyncio.sleep(0)  # the block runs while the records are on their way
        finally:
            await publisher.stop()
        return await read_all(kafka_settings, topic, lambda rs: len(rs) >= len(messages))

    assert sorted(int(r.value) for r in asyncio.run(run())) == list(range(500))


def test_a_failing_block_calls_the_publishing_off_and_its_error_comes_out(kafka_settings):
    topic = f"publishing-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        await ensure_topics(kafka_settings, [topic])
        publisher = Publisher(kafka_settings)
        try:
            async with publishing(publisher, [Outgoing(topic, b"k", b"v", [])]):
                raise ValueError("the transaction failed")
        finally:
            await publisher.stop()

    with pytest.raises(ValueError, match="the transaction failed"):
        asyncio.run(run())


def test_a_broker_that_never_acknowledges_fails_the_block(kafka_settings):
    unreachable = kafka_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})

    async def run() -> None:
        publisher = Publisher(unreachable, timeout=0.5)
        try:
            async with publishing(publisher, [Outgoing("alerts.correlated", b"k", b"v", [])]):
                pass
        finally:
            await publisher.stop()

    with pytest.raises(BrokerUnavailable):
        asyncio.run(run())
