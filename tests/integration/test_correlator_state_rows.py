"""Alert states written as rows of `alert_state_row` (migration 008) read back field for field, on a real
PostgreSQL: every column holds a value no other column of its type holds, so a field out of place would show."""

import asyncio
from datetime import UTC, datetime, timedelta

from services.correlator import store
from services.correlator.correlation import Tracked
from services.correlator.dedup import AlertState
from services.correlator.flapping import FlapState

from .databases import migrated_pool

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
BOOLEANS = ("firing", "suppressed", "during_change", "announced", "expired")


def state(n: int, version: int = 0) -> Tracked:
    """State `n` of three: each boolean column takes a different pattern of bits across the three, and every
    other column a value unique to it; `version` changes every field but the fingerprint and the booleans."""
    flag = {name: bool((code >> n) & 1) for name, code in zip(BOOLEANS, range(1, 6), strict=True)}
    v, at = f"{n}.{version}", T0 + timedelta(hours=n, minutes=version)
    return Tracked(
        alert=AlertState(
            fingerprint=f"fp-{n}",
            firing=flag["firing"],
            severity=n + 1 + version,
            title=f"title {v}",
            description=f"description {v}",
            source=f"source {v}",
            labels={"alertname": f"name {v}", "host": f"host {v}"},
            first_seen=at,
            last_seen=at + timedelta(seconds=1),
            occurrences=10 + n + version,
            sequence=100 + n + version,
            recent_event_ids=(f"event a {v}", f"event b {v}"),
        ),
        ci_id=f"ci {v}",
        binding=f"binding {v}",
        group_key=f"ci:root {v}",
        group_id=f"ci:root {v}@{at.isoformat()}",
        root_ci_id=f"root {v}",
        known_error_id=f"KE {v}",
        change_id=f"change {v}",
        window_id=f"window {v}",
        suppressed=flag["suppressed"],
        during_change=flag["during_change"],
        flap=FlapState(flag["firing"], (at + timedelta(seconds=2),), at + timedelta(seconds=2), n % 2 == 0),
        announced=flag["announced"],
        expires_at=at + timedelta(seconds=3),
        expired=flag["expired"],
        tell_at=at + timedelta(seconds=4),
    )


def test_states_inserted_and_updated_read_back_field_for_field(postgres_server_url):
    async def run() -> tuple[dict, dict, list, list]:
        async with migrated_pool(postgres_server_url, "correlator", "state_rows", max_size=2) as pool:
            first, second = [state(n) for n in range(3)], [state(n, version=1) for n in range(3)]
            async with pool.acquire() as conn, conn.transaction():
                await store.save(conn, first)
                inserted = await store.load(conn, [s.alert.fingerprint for s in first])
                await store.save(conn, second)  # the same fingerprints: the upsert's update
                updated = await store.load(conn, [s.alert.fingerprint for s in second])
            return inserted, updated, first, second

    inserted, updated, first, second = asyncio.run(run())
    assert inserted == {s.alert.fingerprint: s for s in first}
    assert updated == {s.alert.fingerprint: s for s in second}
