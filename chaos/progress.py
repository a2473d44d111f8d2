"""How far the pipeline has got: each consumer's applied offsets against the end of its topic, and the outbox.

Ingest keeps its alerts.raw position as the group's committed offset; the correlator and ticketing keep theirs
in their own schema (consumer_offsets), written in the transaction that applied the batch, which is the truth
after a crash. Quiet means: every consumer applied everything, the outbox is empty and the correlator holds no
repeat back (CORRELATOR_REPEAT_INTERVAL_SECONDS: the last counts of alerts that went quiet are told by its sweep),
twice in a row."""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.shared.kafka import CORRELATED, DEAD_LETTER, NORMALIZED, RAW, client_options
from services.shared.settings import KafkaSettings

log = logging.getLogger("chaos")
INGEST_GROUP = "triage-ingest-raw"
CONSUMED_BY = {"ingest": RAW, "correlator": NORMALIZED, "ticketing": CORRELATED}


@dataclass(frozen=True)
class Progress:
    ends: dict[str, dict[int, int]]  # topic -> partition -> end offset
    applied: dict[str, dict[int, int]]  # topic -> partition -> next offset its consumer applied
    outbox: int
    held: int = 0  # alerts whose last repeats the correlator has not told yet

    def lag(self, service: str, ends: dict[str, dict[int, int]] | None = None) -> int:
        """Records of the service's topic not yet applied (up to `ends`, by default the current ends)."""
        topic = CONSUMED_BY[service]
        target = (ends or self.ends).get(topic, {})
        done = self.applied.get(topic, {})
        return sum(max(0, end - done.get(p, 0)) for p, end in target.items())

    @property
    def total(self) -> int:
        return sum(self.lag(s) for s in CONSUMED_BY) + self.outbox + self.held

    def describe(self) -> str:
        lags = ", ".join(f"{s} lag {self.lag(s)}" for s in CONSUMED_BY)
        return f"{lags}, outbox {self.outbox}, repeats held {self.held}"


class LogEnds:
    """The end of each partition's log, from fetch high watermarks. Not from ListOffsets: the dev broker (Tansu)
    answers it with one past the last batch's base offset, short of the end when that batch holds several records.
    A read waits for fetch responses processed after it began, so the ends are never older than the read."""

    def __init__(self, kafka: KafkaSettings, topics: tuple[str, ...]):
        self._kafka, self._topics = kafka, topics
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: list[TopicPartition] = []

    async def start(self) -> "LogEnds":
        self._consumer = AIOKafkaConsumer(
            **client_options(self._kafka),
            group_id=f"chaos-ends-{uuid.uuid4().hex}",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        await self._consumer.start()
        await self._consumer.topics()
        self._parts = [
            TopicPartition(t, p) for t in self._topics for p in sorted(self._consumer.partitions_for_topic(t) or ())
        ]
        self._consumer.assign(self._parts)
        await self._consumer.seek_to_end(*self._parts)
        return self

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def read(self) -> dict[str, dict[int, int]]:
        assert self._consumer is not None
        # A response processed this long after the read began answers a fetch sent after it began.
        since = int(time.time() * 1000) + 50
        while True:
            await self._consumer.getmany(timeout_ms=20, max_records=100_000)  # records are not needed, only ends
            stamps = [self._consumer.last_poll_timestamp(tp) for tp in self._parts]
            if all(s is not None and s >= since for s in stamps):
                break
        ends: dict[str, dict[int, int]] = {t: {} for t in self._topics}
        for tp in self._parts:
            ends[tp.topic][tp.partition] = self._consumer.highwater(tp)
        return ends


async def log_end_offsets(kafka: KafkaSettings, topic: str) -> dict[int, int]:
    """partition -> end of its log, once (see LogEnds)."""
    ends = await LogEnds(kafka, (topic,)).start()
    try:
        return (await ends.read())[topic]
    finally:
        await ends.stop()


class ProgressProbe:
    """Reads progress; survives the database going away (read() then raises, and works again once it is back)."""

    def __init__(self, kafka: KafkaSettings, database_url: str):
        self._kafka, self._url = kafka, database_url
        self._ends = LogEnds(kafka, (RAW, NORMALIZED, CORRELATED, DEAD_LETTER))
        self._ingest: AIOKafkaConsumer | None = None
        self._pool: asyncpg.Pool | None = None
        self._reading = asyncio.Lock()  # the fault watchers and the quiescence wait read concurrently

    async def start(self) -> "ProgressProbe":
        # The ingest group is only used to read its commits: never subscribed, it never joins.
        self._ingest = AIOKafkaConsumer(**client_options(self._kafka), group_id=INGEST_GROUP, enable_auto_commit=False)
        await self._ingest.start()
        await self._ends.start()
        self._pool = await asyncpg.create_pool(self._url, min_size=0, max_size=1)
        return self

    async def stop(self) -> None:
        await self._ends.stop()
        if self._ingest is not None:
            await self._ingest.stop()
        if self._pool is not None:
            self._pool.terminate()

    async def read(self) -> Progress:
        """The database first, then the topic ends: a consumer that moves in between only adds lag."""
        async with self._reading:
            return await self._read()

    async def _read(self) -> Progress:
        assert self._pool is not None and self._ingest is not None
        applied: dict[str, dict[int, int]] = {}
        async with self._pool.acquire() as conn:
            for schema in ("correlator", "ticketing"):
                rows = await conn.fetch(f"SELECT topic, partition, next_offset FROM {schema}.consumer_offsets")  # noqa: S608
                for r in rows:
                    applied.setdefault(r["topic"], {})[r["partition"]] = r["next_offset"]
            outbox = await conn.fetchval("SELECT count(*) FROM ticketing.outbox")
            held = await conn.fetchval("SELECT count(*) FROM correlator.alerts WHERE tell_at IS NOT NULL")
        ends = await self._ends.read()
        for p in ends[RAW]:
            committed = await self._ingest.committed(TopicPartition(RAW, p))
            applied.setdefault(RAW, {})[p] = committed or 0
        return Progress(ends, applied, outbox, held)

    async def read_retrying(self, within: float = 60) -> Progress:
        deadline = time.monotonic() + within
        while True:
            try:
                return await self.read()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def quiet(self, within: float, settle: float = 1.0) -> Progress:
        """Wait until nothing is left to apply or publish, and it stays so for `settle` seconds."""
        deadline = time.monotonic() + within
        last: Progress | None = None
        said = time.monotonic()
        while True:
            progress = await self.read_retrying()
            if time.monotonic() - said > 30:
                log.info("not quiet yet: %s", progress.describe())
                said = time.monotonic()
            if progress.total == 0 and last is not None and last.total == 0 and last.ends == progress.ends:
                return progress
            if time.monotonic() > deadline:
                raise TimeoutError(f"not quiet after {within:.0f}s: {progress.describe()}")
            last = progress if progress.total == 0 else None
            await asyncio.sleep(settle if progress.total == 0 else 0.25)
