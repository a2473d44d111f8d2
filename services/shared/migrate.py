"""`python -m services.shared.migrate` (the image's `migrate`): apply every service's SQL migrations, then exit.

Run as a Kubernetes Job before a rollout so new pods never wait on DDL; the services still migrate at start-up,
and the advisory lock in postgres.migrate lets both happen at once. This is the one module that knows every
stateful schema; it reads their directories, it imports nothing of the services."""

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from . import postgres
from .settings import ServiceSettings
from .telemetry import configure_logging

log = logging.getLogger("services.shared.migrate")  # not __main__ when run with -m

_SERVICES = Path(__file__).resolve().parent.parent

# schema -> its migrations, in the order they are applied.
SCHEMAS: dict[str, Path] = {
    "correlator": _SERVICES / "correlator" / "migrations",
    "ticketing": _SERVICES / "ticketing" / "migrations",
}

# Errors that mean "the server is not there yet" (worth waiting for), as opposed to a failing migration.
_UNREACHABLE = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, TimeoutError)


class MigrationFailed(Exception):
    """A clear, secret-free reason the command exits non-zero."""


def where(database_url: str) -> str:
    """The server and database of a URL, without user or password, for messages."""
    try:
        parts = urlsplit(database_url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"
    except ValueError:
        return "the server in DATABASE_URL"


async def _connect(database_url: str, schema: str, wait: float) -> asyncpg.Pool:
    deadline, delay = time.monotonic() + wait, 0.5
    while True:
        try:
            return await postgres.connect(database_url, schema, min_size=1, max_size=1)
        except _UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                raise MigrationFailed(f"cannot reach PostgreSQL at {where(database_url)}: {exc}") from None
            log.warning("PostgreSQL at %s not reachable yet, retry in %.1fs: %s", where(database_url), delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        except asyncpg.PostgresError as exc:  # wrong password, no such database: waiting will not help
            raise MigrationFailed(f"cannot connect to {where(database_url)}: {type(exc).__name__}: {exc}") from None
        except (ValueError, asyncpg.InterfaceError) as exc:
            raise MigrationFailed(f"DATABASE_URL is not a usable PostgreSQL URL: {exc}") from None


def _sql_files(schema: str, directory: Path) -> list[str]:
    if not directory.is_dir():
        raise MigrationFailed(f"schema {schema}: no migrations directory at {directory}")
    return sorted(p.name for p in directory.glob("*.sql"))


async def _failing_file(pool: asyncpg.Pool, files: list[str]) -> str:
    """The first file not recorded as applied: the one that failed (each file is its own transaction)."""
    try:
        done = {r["version"] for r in await pool.fetch("SELECT version FROM schema_migrations")}
    except (asyncpg.PostgresError, OSError):
        done = set()
    return next((name for name in files if name not in done), "?")


async def migrate_schema(database_url: str, schema: str, directory: Path, wait: float = 0) -> list[str]:
    files = await asyncio.to_thread(_sql_files, schema, directory)
    pool = await _connect(database_url, schema, wait)
    try:
        return await postgres.migrate(pool, schema, directory)
    except asyncpg.PostgresError as exc:
        failed = await _failing_file(pool, files)
        raise MigrationFailed(f"schema {schema}: {failed} failed: {type(exc).__name__}: {exc}") from None
    finally:
        await pool.close()


async def migrate_all(database_url: str, schemas: dict[str, Path] = SCHEMAS, wait: float = 0) -> dict[str, list[str]]:
    """Apply what is pending in each schema, in order; returns the files applied now, per schema."""
    applied = {}
    for schema, directory in schemas.items():
        applied[schema] = await migrate_schema(database_url, schema, directory, wait)
        log.info(
            "schema %s: %s",
            schema,
            f"applied {', '.join(applied[schema])}" if applied[schema] else "up to date",
        )
    return applied


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.shared.migrate",
        description="Apply the SQL migrations of every triage schema to DATABASE_URL, then exit.",
    )
    parser.add_argument(
        "--schema",
        action="append",
        choices=sorted(SCHEMAS),
        help="only this schema (repeatable; default: all, in order: " + ", ".join(SCHEMAS) + ")",
    )
    parser.add_argument(
        "--wait", type=float, default=60, metavar="SECONDS", help="how long to wait for the server (default 60)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    settings = ServiceSettings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.database_url:
        print("migrate: DATABASE_URL is not set", file=sys.stderr)
        return 2
    chosen = {s: d for s, d in SCHEMAS.items() if not args.schema or s in args.schema}
    try:
        asyncio.run(migrate_all(settings.database_url, chosen, args.wait))
    except MigrationFailed as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
