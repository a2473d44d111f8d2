"""The outbox relay: publishes incident events in commit order, then deletes them. At-least-once: a crash
between publish and delete publishes again with the same event id, which consumers drop."""

import asyncio
import contextlib
import logging

import asyncpg

from services.shared import kafka

from . import metrics

log = logging.getLogger(__name__)
BATCH = 1000
# One relay at a time across instances keeps events ordered per incident.
_LOCK_KEY = 0x7472_6961_6765  # "triage"


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, publisher: kafka.Publisher, ready: asyncio.Event, idle_poll: float = 1.0):
        self._pool, self._publisher, self._ready, self._idle_poll = pool, publisher, ready, idle_poll
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                while await self.publish_once() == BATCH:
                    pass
                delay = 0.1
            except Exception as exc:  # broker or database away: keep the rows, try again
                log.warning("outbox relay failed, retry in %.1fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self._idle_poll)
            self._ready.clear()

    async def publish_once(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK_KEY):
                return 0
            rows = await conn.fetch("SELECT id, incident_id, payload FROM outbox ORDER BY id LIMIT $1", BATCH)
            if not rows:
                return 0
            await self._publisher.publish(
                [kafka.Outgoing(kafka.INCIDENT_EVENTS, str(r["incident_id"]).encode(), r["payload"], []) for r in rows]
            )
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        metrics.EVENTS_PUBLISHED.inc(len(rows))
        return len(rows)

    def stop(self) -> None:
        self._stopping.set()
        self._ready.set()
