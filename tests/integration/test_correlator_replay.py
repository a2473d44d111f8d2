"""Replaying alerts.normalized from the start into an empty correlator schema rebuilds the same state."""

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from devstack.broker import free_port, start_broker
from devstack.database import create_database
from devstack.services import ServiceProcess
from services.shared.contracts import Alert, AlertStatus, Severity
from services.shared.kafka import NORMALIZED, ensure_topics
from services.shared.settings import KafkaSettings

from .kafka_tools import eventually, produce

STATE = (
    "SELECT fingerprint, firing, severity, title, occurrences, sequence, first_seen, last_seen "
    "FROM correlator.alerts ORDER BY fingerprint"
)


def storm(count: int) -> list[tuple[bytes, bytes, list]]:
    rnd, start, out = random.Random(3), datetime(2026, 11, 25, 6, 0, tzinfo=UTC), []
    for n in range(count):
        i = rnd.randrange(60)
        a = Alert(
            event_id=str(uuid.uuid4()),
            fingerprint=f"replay-{i}",
            source="native",
            summary=f"Check {i % 7}",
            severity=Severity.SEVERITY_MAJOR,
            sequence=n,
            status=AlertStatus.ALERT_STATUS_RESOLVED if rnd.random() < 0.1 else AlertStatus.ALERT_STATUS_FIRING,
        )
        a.labels.update({"alertname": f"Check{i % 7}", "host": f"h{i % 13}"})
        a.received_at.FromDatetime(start + timedelta(seconds=n))
        out.append((a.fingerprint.encode(), a.SerializeToString(), []))
    return out


async def snapshot(url: str) -> list[tuple]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(STATE)]
    finally:
        await conn.close()


@pytest.fixture
def own_broker(tmp_path):
    broker = start_broker(free_port(), tmp_path / "broker.log")
    yield KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=3)
    broker.stop()


def correlator(settings: KafkaSettings, db_url: str, group: str, log) -> ServiceProcess:
    return ServiceProcess(
        "correlator",
        free_port(),
        {
            "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "DATABASE_URL": db_url,
            "CORRELATOR_CONSUMER_GROUP": group,
            "TRIAGE_TOKENS": f"t:{uuid.uuid4().hex}:read",
            "LOG_FORMAT": "text",
        },
        log,
    ).start()


def test_replay_into_an_empty_schema_rebuilds_the_same_state(own_broker, postgres_server_url, tmp_path):
    asyncio.run(ensure_topics(own_broker))
    first_db, second_db = (
        asyncio.run(create_database(postgres_server_url, f"replay_{uuid.uuid4().hex[:10]}")) for _ in range(2)
    )
    messages = storm(1500)
    with open(tmp_path / "first.log", "a") as log1, open(tmp_path / "second.log", "a") as log2:
        first = correlator(own_broker, first_db, "replay-first", log1)
        first.wait_healthy(60, "/readyz")
        # In several sends, so the first correlator sees other batch boundaries than the replay will.
        for chunk in range(0, len(messages), 100):
            asyncio.run(produce(own_broker, NORMALIZED, messages[chunk : chunk + 100]))
        original = eventually(
            lambda: (
                (s := asyncio.run(snapshot(first_db))) and sum(r[4] for r in s) + 0 >= 1 and _settled(first_db, s) and s
            ),
            timeout=60,
        )
        first.stop()
        second = correlator(own_broker, second_db, "replay-second", log2)
        second.wait_healthy(60, "/readyz")
        try:
            replayed = eventually(lambda: (s := asyncio.run(snapshot(second_db))) == original and s, timeout=60)
        except AssertionError:
            replayed = asyncio.run(snapshot(second_db))
        second.stop()
    diff = [(a, b) for a, b in zip(original, replayed, strict=False) if a != b]
    assert replayed == original and len(original) == 60, diff[:5]


def _settled(url: str, seen: list[tuple]) -> bool:
    """Two reads a moment apart agree: the consumer has applied everything sent."""
    import time

    time.sleep(1.0)
    return asyncio.run(snapshot(url)) == seen
