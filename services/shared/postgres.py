"""PostgreSQL plumbing: a pool bound to the service's own schema, ordered SQL migrations, stored offsets."""

import asyncio
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import asyncpg
from aiokafka import TopicPartition

from .kafka import Offsets, OffsetStore

log = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _checked_schema(schema: str) -> str:
    # Schema names come from code, never from input; still, an identifier is checked, not trusted.
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    return schema


async def connect(database_url: str, schema: str, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    """A pool whose search_path is the service's schema, so SQL names its tables unqualified."""
    return await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": _checked_schema(schema), "application_name": f"triage-{schema}"},
    )


async def migrate(pool: asyncpg.Pool, schema: str, directory: Path) -> list[str]:
    """Apply the *.sql files of `directory` not yet recorded, in name order, each in its own transaction.
    An advisory lock keeps two starting instances from applying the same file at once."""
    schema = _checked_schema(schema)
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext('triage.migrate.' || $1::text))", schema)
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # noqa: S608 - checked identifier
            for ddl in _PLUMBING:
                await conn.execute(ddl)
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for name, sql in await asyncio.to_thread(_read_migrations, directory):
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", name)
                applied_now.append(name)
                log.info("applied migration %s/%s", schema, name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('triage.migrate.' || $1::text))", schema)
    return applied_now


def _read_migrations(directory: Path) -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted(directory.glob("*.sql"))]


# Plumbing tables every stateful schema has: what was migrated, and how far each consumer applied.
_PLUMBING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS consumer_offsets ("
    " topic text NOT NULL, partition integer NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (topic, partition))",
)


class DatabaseOffsets(OffsetStore):
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def load(self, partitions: Iterable[TopicPartition]) -> Offsets:
        parts = list(partitions)
        rows = await self._pool.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets"
            " WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
            [p.topic for p in parts],
            [p.partition for p in parts],
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def save_offsets(conn: asyncpg.Connection, offsets: Offsets) -> None:
    """Called inside the batch's transaction: the state and the position move together."""
    await conn.execute(
        "INSERT INTO consumer_offsets (topic, partition, next_offset)"
        " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])"
        " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
        [tp.topic for tp in offsets],
        [tp.partition for tp in offsets],
        list(offsets.values()),
    )


async def check(pool: asyncpg.Pool | None) -> str | None:
    if pool is None:
        return "database not connected yet"
    try:
        await pool.fetchval("SELECT 1", timeout=2)
        return None
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        return f"database unreachable: {exc!r}"
