"""The outbox relay: publishes incident events in commit order to incidents.events and, in the same
transaction, queues a webhook delivery per event and matching subscription; then deletes the events.
At-least-once: a crash between publish and commit publishes again with the same event id, which consumers
drop; the deliveries are queued exactly once, with the delete."""

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

# One statement per batch. Deliveries take their ids in outbox order, and a subscription's queue is served in id
# order, so every subscriber sees each incident's events in order.
FAN_OUT = (
    "INSERT INTO webhook_deliveries (subscription_id, event_id, incident_id, type, payload)"
    " SELECT s.id, o.event_id, o.incident_id, o.type, o.payload"
    " FROM outbox o JOIN subscriptions s ON s.event_types && ARRAY['*', o.type]"
    " WHERE o.id = ANY($1::bigint[])"
    " ORDER BY o.id, s.id"
    " ON CONFLICT (subscription_id, event_id) DO NOTHING"
)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: kafka.Publisher,
        ready: asyncio.Event,
        idle_poll: float = 1.0,
        deliveries_ready: asyncio.Event | None = None,
    ):
        self._pool, self._publisher, self._ready, self._idle_poll = pool, publisher, ready, idle_poll
        self._deliveries_ready = deliveries_ready  # set when webhook deliveries were queued (wakes the worker)
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
            ids = [r["id"] for r in rows]
            queued = await conn.execute(FAN_OUT, ids)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
        metrics.EVENTS_PUBLISHED.inc(len(rows))
        if self._deliveries_ready is not None and not queued.endswith(" 0"):  # status "INSERT 0 <count>"
            self._deliveries_ready.set()
        return len(rows)

    def stop(self) -> None:
        self._stopping.set()
        self._ready.set()
