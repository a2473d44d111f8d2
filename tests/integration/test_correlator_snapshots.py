"""The reference snapshot follower against real PostgreSQL: a NOTIFY alone refreshes it."""

import asyncio
import uuid

import asyncpg

from services.correlator import store
from services.correlator.binding import MatchRules
from services.correlator.correlation import ExpiryPolicy
from services.correlator.flapping import FlapPolicy
from services.correlator.grouping import GroupingPolicy
from services.correlator.snapshots import SnapshotCache


async def polled(check, seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def test_a_notification_refreshes_the_snapshot_long_before_the_fallback_poll(stack):
    async def scenario() -> None:
        settings = {"search_path": "correlator"}
        pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2, server_settings=settings)
        cache = SnapshotCache(MatchRules(), GroupingPolicy(), FlapPolicy(), ExpiryPolicy(), poll_seconds=3600)
        follower = asyncio.create_task(cache.follow(pool, stack.database_url))
        try:
            await polled(lambda: cache.current.version >= 0, 10)
            ci_id = f"notify-{uuid.uuid4().hex[:8]}"
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO cis (id, name, class, criticality) VALUES ($1, $1, 'host', 3)", ci_id)
                version = await store.bump_version(conn)
            await polled(lambda: cache.current.version >= version, 5)
            assert cache.current.cmdb.get(ci_id) is not None
        finally:
            cache.stop()
            await asyncio.wait_for(follower, 5)
            await pool.close()

    asyncio.run(scenario())
