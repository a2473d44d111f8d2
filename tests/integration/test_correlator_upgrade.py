"""Upgrading the correlator's schema keeps what running instances wrote before, on a real PostgreSQL."""

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devstack.database import create_database
from services.correlator import dedup, store
from services.correlator.dedup import Observation
from services.shared import postgres

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


async def test_states_written_before_the_event_ids_became_json_load_the_same_after_the_upgrade(
    postgres_server_url, tmp_path
):
    """Migration 006 turns recent_event_ids from text[] into a JSON array: a state written before reads back
    whole, and a copy of an event it remembers is still dropped after the upgrade."""
    migrations = Path(store.__file__).parent / "migrations"
    before = tmp_path / "before"
    before.mkdir()
    for sql in sorted(migrations.glob("*.sql")):
        if sql.name < "006":
            shutil.copy(sql, before / sql.name)
    url = await create_database(postgres_server_url, f"upgrade_{uuid.uuid4().hex[:10]}")
    pool = await postgres.connect(url, "correlator", max_size=2)
    try:
        await postgres.migrate(pool, "correlator", before)
        ids = [str(uuid.uuid4()) for _ in range(3)]
        await pool.execute(
            "INSERT INTO alerts (fingerprint, firing, severity, title, description, source, labels, first_seen,"
            " last_seen, occurrences, sequence, recent_event_ids, group_key)"
            " VALUES ('old', true, 3, 't', '', 'native', '{}', $1, $1, 3, 0, $2::text[], 'alert:old')",
            T0,
            ids,
        )
        assert await postgres.migrate(pool, "correlator", migrations) == [
            p.name for p in sorted(migrations.glob("*.sql")) if p.name >= "006"
        ]
        async with pool.acquire() as conn, conn.transaction():
            state = (await store.load(conn, ["old"]))["old"]
            assert state.alert.recent_event_ids == tuple(ids)
            copy = Observation(ids[1], True, 3, "t", "", "native", {}, T0 + timedelta(seconds=5))
            assert dedup.observe(state.alert, "old", copy) is state.alert
            await store.save(conn, [state])
            assert (await store.load(conn, ["old"]))["old"] == state
    finally:
        await pool.close()
