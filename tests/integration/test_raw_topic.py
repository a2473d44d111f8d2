"""Senders on Kafka: alerts.raw in any supported format, named by the `source` header."""

import asyncio
import json
import time
import uuid

from services.shared.contracts import Alert, AlertStatus
from services.shared.kafka import DEAD_LETTER, NORMALIZED, RAW, new_producer

from .kafka_tools import end_offsets, produce, read_all
from .test_pipeline import webhook


def test_raw_messages_are_normalised_and_poison_is_dead_lettered(stack):
    run = uuid.uuid4().hex[:8]
    good = json.dumps(webhook(run, "firing", ("RawAlert", f"raw-{run}"))).encode()
    normalized_before = asyncio.run(end_offsets(stack.kafka, NORMALIZED))
    dlq_before = asyncio.run(end_offsets(stack.kafka, DEAD_LETTER))
    raw_before = asyncio.run(end_offsets(stack.kafka, RAW))
    key = f"raw-{run}".encode()
    asyncio.run(
        produce(
            stack.kafka,
            RAW,
            [
                (key, b"{not json", [("source", b"alertmanager")]),
                (key, good, [("source", b"nagios")]),
                (
                    key,
                    json.dumps({"alerts": [{"status": "firing", "labels": {}}]}).encode(),
                    [("source", b"alertmanager")],
                ),
                (key, good, []),
                (key, good, [("source", b"alertmanager")]),
            ],
        )
    )

    def mine(records):
        return [a for a in map(_alert, records) if a.labels.get("run") == run]

    normalized = asyncio.run(read_all(stack.kafka, NORMALIZED, lambda rs: mine(rs), start=normalized_before))
    alerts = mine(normalized)
    assert len(alerts) == 1 and alerts[0].source == "alertmanager" and alerts[0].summary == f"RawAlert on raw-{run}"
    # The record's time is the alert's receive time (the raw record's): the correlator merges partitions by it.
    [record] = [r for r in normalized if _alert(r).labels.get("run") == run]
    received = alerts[0].received_at
    assert record.timestamp == received.seconds * 1000 + received.nanos // 1_000_000
    raw = asyncio.run(read_all(stack.kafka, RAW, lambda rs: sum(r.key == key for r in rs) >= 5, start=raw_before))
    assert record.timestamp == [r for r in raw if r.key == key][-1].timestamp  # the one good message

    dead = asyncio.run(
        read_all(stack.kafka, DEAD_LETTER, lambda rs: sum(r.key == key for r in rs) >= 4, start=dlq_before)
    )
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in dead if r.key == key]
    assert len(reasons) == 4, reasons
    assert "not valid JSON" in reasons[0]
    assert "'nagios'" in reasons[1]
    assert "alerts[0].labels" in reasons[2]
    assert "header 'source'" in reasons[3]
    headers = [dict(r.headers) for r in dead if r.key == key]
    assert all(h["dlq.topic"] == RAW.encode() for h in headers)
    assert [h.get("source") for h in headers] == [b"alertmanager", b"nagios", b"alertmanager", None]  # kept
    # One key, so one partition: the four poison messages are its first four new offsets, in order.
    (partition,) = {int(h["dlq.partition"]) for h in headers}
    first = raw_before.get(partition, 0)
    assert [int(h["dlq.offset"]) for h in headers] == [first, first + 1, first + 2, first + 3]
    metrics = stack.client("ingest").get("/metrics").text
    assert 'triage_ingest_dead_letters_total{reason="undecodable"}' in metrics
    assert 'triage_ingest_alerts_total{outcome="dead_letter",source="raw"}' in metrics


def _alert(record) -> Alert:
    a = Alert()
    a.ParseFromString(record.value)
    return a


def test_raw_partitions_are_read_merged_by_record_time(stack):
    """One alert fires (record time T, partition 1) and resolves (T + 10 s, partition 0); both reach the broker
    together, the resolve first. Read in record-time order, the fire reaches alerts.normalized first, in the one
    partition its fingerprint keys, as it happened; read partition by partition, the resolve would come first."""
    run = uuid.uuid4().hex[:8]
    at = int(time.time() * 1000)
    normalized_before = asyncio.run(end_offsets(stack.kafka, NORMALIZED))
    resolve = json.dumps(webhook(run, "resolved", ("RawOrder", f"raw-{run}"))).encode()
    fire = json.dumps(webhook(run, "firing", ("RawOrder", f"raw-{run}"))).encode()
    asyncio.run(_produce_at(stack.kafka, [(0, resolve, at + 10_000), (1, fire, at)]))

    def mine(records):
        return [a for a in map(_alert, records) if a.labels.get("run") == run]

    normalized = asyncio.run(read_all(stack.kafka, NORMALIZED, lambda rs: len(mine(rs)) >= 2, start=normalized_before))
    ordered = sorted((r for r in normalized if _alert(r).labels.get("run") == run), key=lambda r: r.offset)
    assert len({r.partition for r in ordered}) == 1  # one fingerprint, one partition
    assert [_alert(r).status for r in ordered] == [AlertStatus.ALERT_STATUS_FIRING, AlertStatus.ALERT_STATUS_RESOLVED]


async def _produce_at(kafka, items: list[tuple[int, bytes, int]]) -> None:
    """(partition, body, record time ms) to alerts.raw, sent together."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        sent = [
            await producer.send(RAW, body, partition=p, timestamp_ms=ts, headers=[("source", b"alertmanager")])
            for p, body, ts in items
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
