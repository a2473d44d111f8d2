"""The life of a stateful service: database (migrated), publisher, and a batch consumer, with readiness."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from . import kafka, postgres
from .api import ReadinessCheck
from .backoff import retry_forever
from .settings import ServiceSettings

log = logging.getLogger(__name__)

HandlerFactory = Callable[[asyncpg.Pool, kafka.Publisher], kafka.BatchHandler]

# SQLSTATE classes a retry can cure: connection, transaction rollback (serialization, deadlock), insufficient
# resources, operator intervention (shutdown, starting up), system error. Any other database error (bad data,
# a violated constraint) fails the same way every time, so retrying its batch would stall the partition forever.
_TRANSIENT_SQLSTATE = ("08", "40", "53", "57", "58")


def transient(exc: BaseException) -> bool:
    """Whether applying a batch may succeed if simply tried again."""
    if isinstance(exc, OSError | TimeoutError | kafka.BrokerUnavailable | KafkaError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "")[:2] in _TRANSIENT_SQLSTATE
    return False


class StatefulService:
    def __init__(
        self,
        settings: ServiceSettings,
        schema: str,
        migrations: Path,
        topic: str,
        group: str,
        handler: HandlerFactory,
        time_ordered: bool = False,
    ):
        if not settings.database_url:
            raise SystemExit("DATABASE_URL is not set (`make dev` starts an embedded PostgreSQL and sets it)")
        self.settings, self.schema, self.migrations = settings, schema, migrations
        self.topic, self.group, self.handler = topic, group, handler
        self.time_ordered = time_ordered  # merge the topic's partitions by record time (see kafka.BatchConsumer)
        self.pool: asyncpg.Pool | None = None
        self.connected = asyncio.Event()
        self.publisher = kafka.Publisher(settings, timeout=10.0)
        self.consumer: kafka.BatchConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_callbacks: list[Callable[[], None]] = []

    async def _connect(self) -> asyncpg.Pool:
        pool = await postgres.connect(self.settings.database_url or "", self.schema)
        try:
            await postgres.migrate(pool, self.schema, self.migrations)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _run(self) -> None:
        self.pool = await retry_forever(self._connect, f"connect and migrate schema {self.schema}")
        self.connected.set()
        self.consumer = kafka.BatchConsumer(
            self.settings,
            self.topic,
            self.group,
            postgres.DatabaseOffsets(self.pool),
            self.handler(self.pool, self.publisher),
            poison=self._dead_letter,
            transient=transient,
            time_ordered=self.time_ordered,
        )
        await self.consumer.run()

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        """A record that cannot be applied goes to the dead-letter topic, and the stored offset moves past it."""
        assert self.pool is not None
        await self.publisher.publish([kafka.dead_letter(record, reason)])
        async with self.pool.acquire() as conn:
            await postgres.save_offsets(conn, kafka.next_offsets([record]))

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Something else running in the service that must be told to finish on shutdown."""
        self._stop_callbacks.append(callback)

    @contextlib.asynccontextmanager
    async def running(self, extra: Sequence[Callable[[], Awaitable[None]]] = ()) -> AsyncIterator[None]:
        self._tasks.append(asyncio.create_task(self._run(), name=f"{self.schema}-consumer"))
        self._tasks += [asyncio.create_task(run(), name=f"{self.schema}-{run.__name__}") for run in extra]
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        # The consumer finishes its batch in flight and commits; anything else is cancelled.
        if self.consumer is not None:
            self.consumer.stop()
        for callback in self._stop_callbacks:
            callback()
        done, pending = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception():
                log.error("task %s ended with %r", task.get_name(), task.exception())
        await self.publisher.stop()
        if self.pool is not None:
            await self.pool.close()

    def readiness(self) -> dict[str, ReadinessCheck]:
        async def database() -> str | None:
            return await postgres.check(self.pool)

        async def consumer() -> str | None:
            return "not started" if self.consumer is None else self.consumer.healthy_reason

        return {"database": database, "broker": self.publisher.check, "consumer": consumer}
