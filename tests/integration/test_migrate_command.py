"""The migration Job's command (`python -m services.shared.migrate`, the image's `migrate`) against a real
PostgreSQL: a fresh database gets every schema, a second run applies nothing, failures say why and exit non-zero."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from devstack.broker import free_port
from devstack.database import create_database, database_in
from services.shared.migrate import SCHEMAS, MigrationFailed, migrate_schema


def run_migrate(database_url: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"LOG_FORMAT": "text"} | ({"DATABASE_URL": database_url} if database_url else {})
    return subprocess.run(
        [sys.executable, "-m", "services.shared.migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def recorded(database_url: str) -> dict[str, list[tuple[str, object]]]:
    conn = await asyncpg.connect(database_url)
    try:
        return {
            schema: [
                (r["version"], r["applied_at"])
                for r in await conn.fetch(f"SELECT version, applied_at FROM {schema}.schema_migrations ORDER BY 1")
            ]
            for schema in SCHEMAS
        }
    finally:
        await conn.close()


@pytest.fixture
def fresh_database(postgres_server_url) -> str:
    return asyncio.run(create_database(postgres_server_url, f"triage_migrate_{uuid.uuid4().hex[:12]}"))


def test_applies_every_schema_once_then_nothing(fresh_database):
    first = run_migrate(fresh_database)
    assert first.returncode == 0, first.stderr
    after_first = asyncio.run(recorded(fresh_database))
    for schema, directory in SCHEMAS.items():
        files = sorted(p.name for p in directory.glob("*.sql"))
        assert files, f"no migrations found for {schema}"
        assert [version for version, _ in after_first[schema]] == files
        assert f"schema {schema}: applied {', '.join(files)}" in first.stderr

    second = run_migrate(fresh_database)
    assert second.returncode == 0, second.stderr
    assert asyncio.run(recorded(fresh_database)) == after_first  # same rows, same applied_at: nothing re-applied
    for schema in SCHEMAS:
        assert f"schema {schema}: up to date" in second.stderr
    assert "applied migration" not in second.stderr


def test_missing_database_url_is_a_usage_error():
    result = run_migrate(None)
    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stderr


def test_unreachable_server_fails_with_the_address_and_no_password():
    port = free_port()
    result = run_migrate(f"postgresql://triage:s3cret-pass@127.0.0.1:{port}/triage", "--wait", "0")
    assert result.returncode == 1
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}/triage" in result.stderr
    assert "s3cret-pass" not in result.stderr + result.stdout


def test_wrong_database_fails_at_once(postgres_server_url):
    result = run_migrate(database_in(postgres_server_url, f"absent_{uuid.uuid4().hex[:8]}"), "--wait", "30")
    assert result.returncode == 1
    assert "cannot connect to" in result.stderr and "InvalidCatalogNameError" in result.stderr


async def test_a_failing_file_is_named_and_the_ones_before_it_stay_applied(fresh_database, tmp_path: Path):
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE fine (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE broken (id int REFERENCES nowhere (id));")
    (tmp_path / "003_later.sql").write_text("CREATE TABLE later (id int);")
    with pytest.raises(MigrationFailed, match=r"schema scratch: 002_broken\.sql failed: UndefinedTableError"):
        await migrate_schema(fresh_database, "scratch", tmp_path)
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT array_agg(version) FROM scratch.schema_migrations") == ["001_ok.sql"]
    finally:
        await conn.close()
