"""Stopping and starting again loses nothing and doubles nothing.

SIGTERM while a batch is in flight: ticketing finishes the batch, commits it with its offsets, and exits within
SHUTDOWN_GRACE_SECONDS; started again, it goes on from there. The batch is held in flight by a lock on the table
its transaction writes last (the stored offsets), released after the signal. And a consumer started again with a
backlog applies each record once, however slowly its stored offsets load."""

import asyncio
import secrets
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.broker import free_port, start_broker
from devstack.database import create_database
from devstack.services import ServiceProcess
from services.shared.contracts import AlertStatus, CorrelatedAlert, IncidentEvent, Severity
from services.shared.kafka import (
    CORRELATED,
    INCIDENT_EVENTS,
    BatchConsumer,
    OffsetStore,
    client_options,
    ensure_topics,
    next_offsets,
)
from services.shared.settings import KafkaSettings

from .kafka_tools import applied_all, eventually, produce, read_all, stored_offsets

GRACE = 5
GROUPS, FINGERPRINTS = 5, 4


# Event time ahead of the wall clock: no SLA clock falls due during the test.
BASE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def updates(run: str, first: int, last: int) -> list[tuple[bytes, bytes, list]]:
    """The correlator's view of each alert as it repeats in one firing period: occurrence n at BASE + n seconds."""
    base = BASE
    items = []
    for n in range(first, last + 1):
        for g in range(GROUPS):
            for f in range(FINGERPRINTS):
                key = f"labels:shutdown-{run}-{g}"
                at = base + timedelta(seconds=n)
                ca = CorrelatedAlert(
                    event_id=str(uuid.uuid4()),
                    sequence=int(at.timestamp() * 1_000_000) + f,
                    group_key=key,
                    fingerprint=f"{run}-{g}-{f}",
                    status=AlertStatus.ALERT_STATUS_FIRING,
                    severity=Severity.SEVERITY_MINOR,
                    title=f"Shutdown probe {g}/{f}",
                    source="alertmanager",
                    occurrences=n,
                )
                ca.first_seen.FromDatetime(base)
                ca.last_seen.FromDatetime(at)
                items.append((key.encode(), ca.SerializeToString(), []))
    return items


class OffsetsTableLock:
    """An open transaction holding ticketing.consumer_offsets, on its own event loop until released."""

    def __init__(self, url: str):
        self._loop = asyncio.new_event_loop()
        self._conn, self._tx = self._loop.run_until_complete(self._take(url))

    @staticmethod
    async def _take(url: str):
        conn = await asyncpg.connect(url)
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE ticketing.consumer_offsets IN ACCESS EXCLUSIVE MODE")
        return conn, tx

    def release(self) -> None:
        async def end() -> None:
            await self._tx.rollback()
            await self._conn.close()

        self._loop.run_until_complete(end())
        self._loop.close()


async def batch_waiting_on_lock(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'triage-ticketing' AND wait_event_type = 'Lock'"
            )
        )
    finally:
        await conn.close()


@pytest.fixture
def ticketing_on_own_broker(tmp_path, postgres_server_url):
    broker = start_broker(free_port(), tmp_path / "broker.log")
    kafka = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=3)
    asyncio.run(ensure_topics(kafka))
    url = asyncio.run(create_database(postgres_server_url, f"shutdown_{uuid.uuid4().hex[:10]}"))
    token = secrets.token_urlsafe(24)
    log = open(tmp_path / "ticketing.log", "a")  # noqa: SIM115 - closed below
    env = {
        "KAFKA_BOOTSTRAP": broker.bootstrap,
        "DATABASE_URL": url,
        "TRIAGE_TOKENS": f"t:{token}:read",
        "LOG_FORMAT": "text",
        "SHUTDOWN_GRACE_SECONDS": str(GRACE),
    }
    ticketing = ServiceProcess("ticketing", free_port(), env, log).start()
    try:
        ticketing.wait_healthy(60, "/readyz")
        yield ticketing, kafka, url, token, tmp_path / "ticketing.log"
    finally:
        ticketing.stop()
        log.close()
        broker.stop()


def test_sigterm_finishes_the_batch_in_flight_commits_and_exits_in_time(ticketing_on_own_broker):
    ticketing, kafka, url, token, log_path = ticketing_on_own_broker
    run = uuid.uuid4().hex[:8]
    asyncio.run(produce(kafka, CORRELATED, updates(run, 1, 10)))
    eventually(lambda: applied_all(kafka, url, "ticketing", CORRELATED), timeout=30)

    before = asyncio.run(stored_offsets(url, "ticketing", CORRELATED))
    lock = OffsetsTableLock(url)
    try:
        asyncio.run(produce(kafka, CORRELATED, updates(run, 11, 20)))
        eventually(lambda: asyncio.run(batch_waiting_on_lock(url)), timeout=30)

        signalled = time.monotonic()
        ticketing.proc.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert ticketing.proc.poll() is None, "it waits for the batch in flight instead of dropping it"
    finally:
        lock.release()
    code = ticketing.proc.wait(GRACE + 5)
    took = time.monotonic() - signalled
    # uvicorn re-raises the signal once shut down: a clean exit shows as 0 or as -SIGTERM.
    assert code in (0, -signal.SIGTERM), code
    assert took < GRACE + 3, f"exited {took:.1f}s after SIGTERM"
    assert "Application shutdown complete" in log_path.read_text()
    after = asyncio.run(stored_offsets(url, "ticketing", CORRELATED))
    assert after != before and all(after[p] >= o for p, o in before.items()), (
        f"the batch in flight was committed with its offsets before exiting: {before} -> {after}"
    )

    asyncio.run(produce(kafka, CORRELATED, updates(run, 21, 30)))
    ticketing.start().wait_healthy(60, "/readyz")
    eventually(lambda: applied_all(kafka, url, "ticketing", CORRELATED), timeout=30)

    with httpx.Client(base_url=ticketing.url, headers={"Authorization": f"Bearer {token}"}, timeout=15) as client:
        items = client.get("/v1/incidents", params={"limit": 500}).json()["items"]
    mine = [i for i in items if i["group_key"].startswith(f"labels:shutdown-{run}")]
    assert len(mine) == GROUPS, [i["group_key"] for i in mine]
    assert {i["alert_count"] for i in mine} == {FINGERPRINTS * 30}, [i["alert_count"] for i in mine]
    assert_events_once(kafka, url, {i["id"]: i["version"] for i in mine})


def assert_events_once(kafka: KafkaSettings, url: str, versions: dict[str, int]) -> None:
    """Each incident's events, copies of one event id aside, number its versions 1..n exactly once."""
    eventually(lambda: asyncio.run(outbox_pending(url)) == 0, timeout=30)
    seen, sequences = set(), defaultdict(list)
    for r in asyncio.run(read_all(kafka, INCIDENT_EVENTS, lambda rs: False, seconds=3)):
        e = IncidentEvent()
        e.ParseFromString(r.value)
        if e.incident_id in versions and e.event_id not in seen:
            seen.add(e.event_id)
            sequences[e.incident_id].append(e.sequence)
    assert sequences.keys() == versions.keys()
    for incident, found in sequences.items():
        assert sorted(found) == list(range(1, versions[incident] + 1)), (incident, sorted(found))


async def outbox_pending(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM ticketing.outbox")
    finally:
        await conn.close()


class SlowOffsetStore(OffsetStore):
    """Stored offsets as a database under load returns them: the snapshot the query started from, a second later."""

    def __init__(self, stored: dict[TopicPartition, int]):
        self.stored = stored

    async def load(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        wanted = set(partitions)
        snapshot = {tp: offset for tp, offset in self.stored.items() if tp in wanted}
        await asyncio.sleep(1)
        return snapshot


def test_a_restarted_consumer_applies_each_record_once_though_its_stored_offsets_load_slowly(tmp_path):
    """The client starts fetching from the broker's committed offsets while the rebalance listener is still loading
    the stored ones. That first batch used to be applied, and the seek to the (by then stale) stored offsets then
    sent the consumer back over it: after a restart with a backlog, a batch was applied twice."""
    broker = start_broker(free_port(), tmp_path / "broker.log")
    try:
        asyncio.run(_restart_with_backlog(KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=1)))
    finally:
        broker.stop()


async def _restart_with_backlog(kafka: KafkaSettings) -> None:
    topic, group = f"restart-{uuid.uuid4().hex[:8]}", f"restart-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic])
    tp = TopicPartition(topic, 0)
    producer = AIOKafkaProducer(**client_options(kafka), acks="all")
    await producer.start()
    await asyncio.gather(*[await producer.send(topic, str(n).encode(), partition=0) for n in range(500)])
    await producer.stop()
    # What the previous instance left: 100 records applied, stored and committed to the broker alike.
    previous = AIOKafkaConsumer(**client_options(kafka), group_id=group, enable_auto_commit=False)
    await previous.start()
    previous.assign([tp])
    await previous.commit({tp: 100})
    await previous.stop()
    store, applied, caught_up = SlowOffsetStore({tp: 100}), Counter(), asyncio.Event()

    async def apply(records: list) -> None:
        applied.update(r.offset for r in records)
        store.stored.update(next_offsets(records))  # with the state, as in the services' transactions
        if len(applied) >= 400:
            caught_up.set()

    consumer = BatchConsumer(kafka, topic, group, store, apply)
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(caught_up.wait(), 30)
        await asyncio.sleep(2)  # time for a second application, were there one
    finally:
        consumer.stop()
        await running
    assert sorted(applied) == list(range(100, 500))
    assert max(applied.values()) == 1, f"{sum(n > 1 for n in applied.values())} records applied twice"
