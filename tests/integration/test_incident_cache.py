"""The ticketing pipeline holds the incidents it wrote between batches (services.ticketing.incident_cache), on
a real PostgreSQL: what it holds is exactly what the table holds, and an incident someone else wrote since (a
person through the API, the SLA timer) is read again, so their change is never undone by a stale copy."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from services.shared import kafka
from services.shared.contracts import AlertStatus, CorrelatedAlert, Severity
from services.shared.contracts.timestamps import stamp
from services.ticketing import recording, store
from services.ticketing.actions import Request, act
from services.ticketing.clocks import SlaRules
from services.ticketing.events import NO_CAUSE
from services.ticketing.incident import IncidentPolicy, versioned
from services.ticketing.incident_cache import IncidentCache
from services.ticketing.lifecycle import Action
from services.ticketing.pipeline import Ticketing

from .databases import migrated_pool

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
KEY = "ci:cache-host"


@pytest.fixture(scope="module")
async def pool(postgres_server_url):
    async with migrated_pool(postgres_server_url, "ticketing", "incident_cache", max_size=4) as pool:
        yield pool


def alert(fp: str, sequence: int, at: datetime, occurrences: int = 1, firing: bool = True, **more) -> ConsumerRecord:
    ca = CorrelatedAlert(
        event_id=str(uuid.uuid4()),
        sequence=sequence,
        group_key=KEY,
        fingerprint=fp,
        status=AlertStatus.ALERT_STATUS_FIRING if firing else AlertStatus.ALERT_STATUS_RESOLVED,
        severity=Severity.SEVERITY_MAJOR,
        title=f"{fp} is failing",
        occurrences=occurrences,
        ci_id=f"{fp}-ci",
        root_ci_id="cache-host",
        ci_name=f"{fp} CI",
        ci_criticality=2,
        support_group="ops",
        service="shop",
        **more,
    )
    stamp(ca.first_seen, T0)
    stamp(ca.last_seen, at)
    value = ca.SerializeToString()
    return ConsumerRecord(kafka.CORRELATED, 0, sequence, 0, 0, None, value, None, 0, len(value), [])


async def table(pool, handler: Ticketing):
    """The group's incident as the table holds it, and as the pipeline holds it at the table's revision."""
    async with pool.acquire() as conn:
        [incident] = (await store.load_latest(conn, [KEY], IncidentCache())).values()  # read whole
        revision = await conn.fetchval("SELECT revision FROM incidents WHERE id = $1::uuid", incident.id)
    return incident, handler._incidents.get(incident.id, revision)


async def test_what_the_pipeline_holds_is_what_the_table_holds_and_a_change_made_elsewhere_is_kept(
    pool, kafka_settings
):
    publisher = kafka.Publisher(kafka_settings)
    handler = Ticketing(pool, publisher, asyncio.Event(), IncidentPolicy(), SlaRules())
    try:
        await handler([alert("a", 1, T0), alert("b", 2, T0, known_error_id="KE-1", workaround="restart it")])
        await handler([alert("a", 3, T0 + timedelta(seconds=5), occurrences=4, flapping=True, during_change=True)])
        stored, held = await table(pool, handler)
        assert held == stored and held is not None  # every field, the alerts included
        assert (stored.alert_count, len(stored.members), stored.workaround) == (5, 2, "restart it")

        # A person takes the incident and puts it on hold through the API meanwhile: writes the pipeline did not
        # make.
        taken = versioned(act(stored, Request(Action.ACKNOWLEDGE, "alice", T0 + timedelta(seconds=6))))
        held_by = versioned(act(taken.incident, Request(Action.HOLD, "alice", T0 + timedelta(seconds=6), "vendor")))
        async with pool.acquire() as conn, conn.transaction():
            await recording.record(conn, [(taken, NO_CAUSE), (held_by, NO_CAUSE)], SlaRules())

        await handler([alert("c", 4, T0 + timedelta(seconds=7)), alert("b", 5, T0 + timedelta(seconds=8), 1, False)])
        stored, held = await table(pool, handler)
        assert held == stored
        assert stored.status == "on_hold" and len(stored.pauses) == 1  # the hold stands
        assert stored.acknowledged_at == T0 + timedelta(seconds=6)
        assert sorted(stored.members) == ["a", "b", "c"] and not stored.members["b"].firing
        assert stored.alert_count == 6
    finally:
        await publisher.stop()
