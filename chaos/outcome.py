"""What a run produced: the incidents (through the incident API) and every record of incidents.events."""

import uuid
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.shared.contracts import IncidentEvent
from services.shared.kafka import INCIDENT_EVENTS, client_options
from services.shared.settings import KafkaSettings


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    number: str
    group_key: str
    status: str
    alert_count: int
    priority: int
    opened_at: str
    resolved_at: str | None
    version: int = 0


@dataclass(frozen=True)
class EventRecord:
    event_id: str
    incident_id: str
    sequence: int
    type: str
    status: str
    alert_count: int
    partition: int
    offset: int


async def incidents(client: httpx.AsyncClient) -> list[IncidentRecord]:
    found: list[IncidentRecord] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/incidents", params=params)
        response.raise_for_status()
        page = response.json()
        for i in page["items"]:
            found.append(
                IncidentRecord(
                    str(i["id"]),
                    i["number"],
                    i["group_key"],
                    i["status"],
                    int(i["alert_count"]),
                    int(i.get("priority") or 0),
                    i["opened_at"],
                    i.get("resolved_at"),
                    int(i["version"]),
                )
            )
        cursor = page.get("next_cursor")
        if not cursor:
            return found


async def read_topic(kafka: KafkaSettings, topic: str) -> list[ConsumerRecord]:
    """Every record of a topic that has stopped growing, in partition and offset order. The end is the fetch
    high watermark: the dev broker (Tansu) answers ListOffsets short of the end (see progress.LogEnds)."""
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        group_id=f"chaos-reader-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        found: dict[int, list[ConsumerRecord]] = {tp.partition: [] for tp in parts}
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for tp, records in batch.items():
                found[tp.partition] += records
            if not batch and await _at_end(consumer, parts):
                return [r for p in sorted(found) for r in found[p]]
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> bool:
    for tp in parts:
        end = consumer.highwater(tp)
        if end is None or await consumer.position(tp) < end:
            return False
    return True


async def events(kafka: KafkaSettings) -> list[EventRecord]:
    """Every record on incidents.events, copies included."""
    return [_event(r) for r in await read_topic(kafka, INCIDENT_EVENTS)]


def _event(record: ConsumerRecord) -> EventRecord:
    e = IncidentEvent()
    e.ParseFromString(record.value)
    return EventRecord(
        e.event_id, e.incident_id, e.sequence, e.type, e.status, e.alert_count, record.partition, record.offset
    )
