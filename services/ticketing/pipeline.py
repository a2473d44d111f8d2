"""alerts.correlated -> incidents: one transaction per consumed batch holds the incident changes, their outbox
rows and audit trail, the applied sequences and the consumer offsets."""

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError

from services.shared import kafka
from services.shared.contracts import FIRING, CorrelatedAlert
from services.shared.contracts.timestamps import utc
from services.shared.postgres import save_offsets

from . import metrics, recording, store
from .clocks import SlaRules, tick
from .events import Cause
from .incident import AlertUpdate, Change, Incident, IncidentPolicy, on_alert, versioned
from .incident_cache import IncidentCache


def decode(record: ConsumerRecord) -> tuple[AlertUpdate, Cause]:
    ca = CorrelatedAlert()
    ca.ParseFromString(record.value or b"")
    if not ca.fingerprint or not ca.group_key or ca.sequence <= 0:
        raise DecodeError("CorrelatedAlert without fingerprint, group key or sequence")
    if not ca.HasField("last_seen"):
        raise DecodeError("CorrelatedAlert without last_seen")
    update = AlertUpdate(
        fingerprint=ca.fingerprint,
        group_key=ca.group_key,
        sequence=ca.sequence,
        firing=ca.status == FIRING,
        occurrences=ca.occurrences,
        severity=ca.severity,
        title=ca.title,
        description=ca.description,
        at=utc(ca.last_seen),
        first_seen=utc(ca.first_seen) if ca.HasField("first_seen") else None,
        ci_id=ca.ci_id,
        root_ci_id=ca.root_ci_id,
        ci_name=ca.ci_name,
        ci_criticality=ca.ci_criticality if 1 <= ca.ci_criticality <= 5 else 0,
        support_group=ca.support_group,
        service=ca.service,
        affected_ci_ids=tuple(ca.affected_ci_ids),
        known_error_id=ca.known_error_id,
        workaround=ca.workaround,
        change_id=ca.change_id,
        during_change=ca.during_change,
        flapping=ca.flapping,
        group_occurrences=ca.group_occurrences,
    )
    received = utc(ca.cause_received_at) if ca.HasField("cause_received_at") else None
    return update, Cause(ca.cause_event_id, received)


def decide(
    updates: list[tuple[AlertUpdate, Cause]],
    latest: dict[str, Incident],
    policy: IncidentPolicy,
    rules: SlaRules,
    new_id: Callable[[], str],
) -> list[tuple[Change, Cause]]:
    """The changes the updates make, in order, to their groups' latest incidents (`latest`, updated). No I/O."""
    changes: list[tuple[Change, Cause]] = []
    for u, cause in updates:
        change = on_alert(latest.get(u.group_key), u, policy, new_id)
        if change is None:
            continue
        # SLA marks move at the alert's own time, so a replay of the same alerts decides the same; at eventful
        # changes only, as the repeats between them reach ticketing coalesced as the correlator's batches fell.
        if change.events:
            change = versioned(tick(change, change.incident.updated_at, rules))
        changes.append((change, cause))
        latest[u.group_key] = change.incident
    return changes


class Ticketing:
    """The batch handler: skip what was applied, apply the rest in order, record changes and offsets."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: kafka.Publisher,
        outbox_ready: asyncio.Event,
        policy: IncidentPolicy,
        rules: SlaRules,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self._pool, self._publisher, self._outbox_ready = pool, publisher, outbox_ready
        self._policy, self._rules, self._new_id = policy, rules, new_id
        self._incidents = IncidentCache()

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        updates: list[tuple[AlertUpdate, Cause]] = []
        dead: list[kafka.Outgoing] = []
        for record in records:
            try:
                updates.append(decode(record))
            except (DecodeError, ValueError, OverflowError) as exc:
                dead.append(kafka.dead_letter(record, f"undecodable CorrelatedAlert: {exc}"))
        if dead:
            await self._publisher.publish(dead)
            metrics.DEAD_LETTERS.inc(len(dead))
        async with self._pool.acquire() as conn, conn.transaction():
            recorded = await self._apply(conn, updates)
            await save_offsets(conn, kafka.next_offsets(records))
        for incident, revision in recorded.written.values():  # committed: what the table now holds
            self._incidents.put(incident, revision)
        if recorded.changes:
            self._outbox_ready.set()

    async def _apply(self, conn: asyncpg.Connection, updates: list[tuple[AlertUpdate, Cause]]) -> recording.Recorded:
        applied = await store.load_sequences(conn, list({u.fingerprint for u, _ in updates}))
        fresh = []
        for u, cause in updates:
            if u.sequence > applied.get(u.fingerprint, 0):
                applied[u.fingerprint] = u.sequence
                fresh.append((u, cause))
        if not fresh:
            return recording.Recorded([], {})
        latest = await store.load_latest(conn, list({u.group_key for u, _ in fresh}), self._incidents)
        changes = decide(fresh, latest, self._policy, self._rules, self._new_id)
        recorded = await recording.record(conn, changes, self._rules)
        await store.save_sequences(conn, {u.fingerprint: applied[u.fingerprint] for u, _ in fresh})
        metrics.count_changes(e.type for c, _ in changes for e in c.events)
        return recorded
