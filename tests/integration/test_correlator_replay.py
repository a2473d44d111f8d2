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


def storm(count: int, start: datetime) -> list[tuple[bytes, bytes, list]]:
    rnd, out = random.Random(3), []
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
    # Alert times one a second up to now: recent, so no alert reaches its expiry while the test runs.
    messages = storm(1500, datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1500))
    with open(tmp_path / "first.log", "a") as log1, open(tmp_path / "second.log", "a") as log2:
        first = correlator(own_broker, first_db, "replay-first", log1)
        try:
            first.wait_healthy(60, "/readyz")
            # In several sends, so the first correlator sees other batch boundaries than the replay will.
            for chunk in range(0, len(messages), 100):
                asyncio.run(produce(own_broker, NORMALIZED, messages[chunk : chunk + 100]))
            # Settled when the database says every message sent was applied (the topic holds nothing else).
            eventually(lambda: sum(asyncio.run(applied(first_db)).values()) == len(messages), timeout=120)
            original = asyncio.run(snapshot(first_db))
        finally:
            first.stop()
        second = correlator(own_broker, second_db, "replay-second", log2)
        try:
            second.wait_healthy(60, "/readyz")
            eventually(lambda: sum(asyncio.run(applied(second_db)).values()) == len(messages), timeout=120)
            replayed = asyncio.run(snapshot(second_db))
        finally:
            second.stop()
    diff = [(a, b) for a, b in zip(original, replayed, strict=False) if a != b]
    assert replayed == original and len(original) == 60, diff[:5]


async def applied(url: str) -> dict[int, int]:
    """Per partition of alerts.normalized, the next offset the correlator's database says it applied."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM correlator.consumer_offsets WHERE topic = $1", NORMALIZED
        )
        return {r["partition"]: r["next_offset"] for r in rows}
    except asyncpg.UndefinedTableError:  # not migrated yet
        return {}
    finally:
        await conn.close()
