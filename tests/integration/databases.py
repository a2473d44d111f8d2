"""Fresh databases with a service's schema migrated, for tests that drive a service's parts in-process."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from devstack.database import create_database
from services.shared import postgres

SERVICES = Path(__file__).resolve().parents[2] / "services"


@contextlib.asynccontextmanager
async def migrated_pool(server_url: str, schema: str, prefix: str, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database (`prefix` and a random suffix) holding `schema`, migrated as the service does."""
    url = await create_database(server_url, f"{prefix}_{uuid.uuid4().hex[:10]}")
    pool = await postgres.connect(url, schema, max_size=max_size)
    try:
        await postgres.migrate(pool, schema, SERVICES / schema / "migrations")
        yield pool
    finally:
        await pool.close()
