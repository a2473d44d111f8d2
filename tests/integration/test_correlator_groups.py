"""Two correlator instances open the same group at once (a new root CI's alerts sit in partitions both
instances own), on a real PostgreSQL: the second waits for the first and continues its group instance, instead
of writing its own instance and count over the first's. Shown on the store, and with two correlator processes
sharing the consumer group."""

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from devstack.broker import free_port, start_broker
from devstack.database import create_database
from devstack.services import ServiceProcess
from services.correlator import store
from services.correlator.correlation import OpenGroup
from services.correlator.grouping import GroupInstance, GroupKey
from services.shared.kafka import NORMALIZED, ensure_topics
from services.shared.settings import KafkaSettings

from .databases import migrated_pool
from .kafka_tools import eventually, produce
from .test_correlator import alert
from .test_correlator_replay import applied

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def pool(postgres_server_url):
    async with migrated_pool(postgres_server_url, "correlator", "correlator_groups", max_size=4) as pool:
        yield pool


def opened(key: str, at: datetime, affected: set[str], occurrences: int) -> OpenGroup:
    instance = GroupInstance(f"{key}@{at.isoformat()}", GroupKey(key, key.removeprefix("ci:")), at, at)
    return OpenGroup(instance, frozenset(affected), occurrences)


async def test_an_instance_opening_a_group_another_is_opening_waits_and_continues_it(pool):
    key = "ci:race-root"
    first, second = await pool.acquire(), await pool.acquire()
    try:
        async with first.transaction():
            assert await store.load_groups(first, [key, "ci:race-other"]) == {}
            second_tx = second.transaction()
            await second_tx.start()
            waiting = asyncio.create_task(store.load_groups(second, [key]))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "the second instance read the group while the first was opening it"
            await store.save_groups(first, [opened(key, T0, {"app-1"}, 3)])
        seen = await asyncio.wait_for(waiting, 10)
        assert seen == {key: opened(key, T0, {"app-1"}, 3)}
        # The second continues what it read: one instance, and both instances' counts.
        later = T0 + timedelta(seconds=1)
        group = seen[key]
        continued = OpenGroup(
            GroupInstance(group.instance.id, group.instance.key, T0, later),
            group.affected | {"app-2"},
            group.occurrences + 2,
        )
        await store.save_groups(second, [continued])
        await second_tx.commit()
    finally:
        await pool.release(first)
        await pool.release(second)
    assert await store.load_groups(pool, [key], lock=False) == {key: continued}
    # A key claimed but never opened reads as no group, locked or not.
    assert await store.load_groups(pool, ["ci:race-other"], lock=False) == {}
    async with pool.acquire() as conn, conn.transaction():
        assert await store.load_groups(conn, ["ci:race-other"]) == {}


GROUPS = (
    "SELECT a.grouping_key AS key, count(*) AS alerts, count(*) FILTER (WHERE a.group_key <> g.instance_id) AS"
    " elsewhere, max(g.occurrences) AS occurrences FROM correlator.alerts a"
    " JOIN correlator.group_instances g ON g.group_key = a.grouping_key GROUP BY a.grouping_key ORDER BY 1"
)


def rounds(count: int, keys: int, hosts: int, start: datetime) -> list[list[tuple[bytes, bytes, list]]]:
    """`count` rounds, each opening `keys` new label groups (alertname) of `hosts` alerts, one sighting each,
    spread over every partition (keyed by fingerprint) and a second of alert time."""
    out = []
    for r in range(count):
        messages = []
        for n in range(keys * hosts):
            labels = {"alertname": f"Race{r}x{n % keys}", "host": f"h{n // keys}"}
            at = start + timedelta(seconds=r, microseconds=n * 1000)
            a = alert(f"race-{r}-{n}", labels, at=at, source="native")
            messages.append((a.fingerprint.encode(), a.SerializeToString(), []))
        out.append(messages)
    return out


def applied_alerts(service: ServiceProcess) -> float:
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    found = re.search(r"^triage_correlator_alerts_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def group_rows(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(GROUPS)
    finally:
        await conn.close()


def test_two_correlator_instances_keep_one_instance_and_every_count_of_each_group(postgres_server_url, tmp_path):
    broker = start_broker(free_port(), tmp_path / "broker.log")
    settings = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=6)
    try:
        asyncio.run(ensure_topics(settings))
        db = asyncio.run(create_database(postgres_server_url, f"groups_{uuid.uuid4().hex[:10]}"))
        env = {
            "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "DATABASE_URL": db,
            "CORRELATOR_CONSUMER_GROUP": "two-instances",
            "TRIAGE_TOKENS": f"t:{uuid.uuid4().hex}:read",
            "LOG_FORMAT": "text",
        }
        with open(tmp_path / "a.log", "a") as log_a, open(tmp_path / "b.log", "a") as log_b:
            first = ServiceProcess("correlator", free_port(), env, log_a).start()
            second = ServiceProcess("correlator", free_port(), env, log_b).start()
            try:
                first.wait_healthy(60, "/readyz")
                second.wait_healthy(60, "/readyz")
                sent, done = 0, 0
                start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
                # At least 6 rounds, and more (up to 12) until both instances applied some: the consumer group
                # may still be rebalancing to the second when the first rounds arrive.
                for messages in rounds(12, keys=12, hosts=20, start=start):
                    asyncio.run(produce(settings, NORMALIZED, messages))
                    sent, done = sent + len(messages), done + 1
                    eventually(lambda n=sent: sum(asyncio.run(applied(db)).values()) == n, timeout=120)
                    both = applied_alerts(first) > 0 and applied_alerts(second) > 0
                    if done >= 6 and both:
                        break
                assert both, "one instance applied every alert: the two never ran side by side"
            finally:
                first.stop()
                second.stop()
    finally:
        broker.stop()
    rows = asyncio.run(group_rows(db))
    assert len(rows) == done * 12
    # Each group's alerts are all in its one instance, and the group counted every one of them.
    assert [(r["key"], r["elsewhere"], r["occurrences"]) for r in rows] == [(r["key"], 0, 20) for r in rows]
