"""alerts.correlated -> incidents, with every change written to the outbox in the same transaction."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError

from services.shared import kafka
from services.shared.contracts import AlertStatus, CorrelatedAlert, IncidentEvent
from services.shared.postgres import save_offsets

from . import metrics, store
from .incident import AlertUpdate, Change, Incident, apply


def decode(record: ConsumerRecord) -> tuple[AlertUpdate, CorrelatedAlert]:
    ca = CorrelatedAlert()
    ca.ParseFromString(record.value or b"")
    if not ca.fingerprint or not ca.group_key or ca.sequence <= 0:
        raise DecodeError("CorrelatedAlert without fingerprint, group key or sequence")
    update = AlertUpdate(
        fingerprint=ca.fingerprint,
        group_key=ca.group_key,
        sequence=ca.sequence,
        firing=ca.status == AlertStatus.ALERT_STATUS_FIRING,
        occurrences=ca.occurrences,
        severity=ca.severity,
        title=ca.title,
        description=ca.description,
        ci_id=ca.ci_id,
    )
    return update, ca


def incident_event(change: Change, cause: CorrelatedAlert, actor: str = "triage") -> IncidentEvent:
    i = change.incident
    event = IncidentEvent(
        event_id=str(uuid.uuid4()),
        sequence=i.version,
        type=change.type,
        incident_id=i.id,
        number=i.number or "",
        title=i.title,
        status=i.status,
        priority=i.priority,
        group_key=i.group_key,
        alert_count=i.alert_count,
        ci_id=i.ci_id,
        actor=actor,
        cause_event_id=cause.cause_event_id,
    )
    event.opened_at.FromDatetime(i.opened_at)
    event.occurred_at.FromDatetime(i.updated_at)
    if i.resolved_at:
        event.resolved_at.FromDatetime(i.resolved_at)
    if cause.HasField("cause_received_at"):
        event.cause_received_at.CopyFrom(cause.cause_received_at)
    return event


class Ticketing:
    """The batch handler: skip what was applied, apply the rest in order, write state, outbox and offsets."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: kafka.Publisher,
        outbox_ready: asyncio.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._pool, self._publisher, self._outbox_ready, self._clock = pool, publisher, outbox_ready, clock

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        updates: list[tuple[AlertUpdate, CorrelatedAlert]] = []
        dead: list[kafka.Outgoing] = []
        for record in records:
            try:
                updates.append(decode(record))
            except (DecodeError, ValueError) as exc:
                dead.append(kafka.dead_letter(record, f"undecodable CorrelatedAlert: {exc}"))
        if dead:
            await self._publisher.publish(dead)
            metrics.DEAD_LETTERS.inc(len(dead))
        async with self._pool.acquire() as conn, conn.transaction():
            changes = await self._apply(conn, updates)
            await save_offsets(conn, kafka.next_offsets(records))
        if changes:
            self._outbox_ready.set()

    async def _apply(self, conn: asyncpg.Connection, updates: list[tuple[AlertUpdate, CorrelatedAlert]]) -> int:
        applied = await store.load_sequences(conn, list({u.fingerprint for u, _ in updates}))
        fresh = []
        for u, ca in updates:
            if u.sequence > applied.get(u.fingerprint, 0):
                applied[u.fingerprint] = u.sequence
                fresh.append((u, ca))
        if not fresh:
            return 0
        current: dict[str, Incident | None] = dict(await store.load_open(conn, list({u.group_key for u, _ in fresh})))
        changes: list[tuple[Change, CorrelatedAlert]] = []
        now = self._clock()
        for u, ca in fresh:
            change = apply(current.get(u.group_key), u, now, str(uuid.uuid4()))
            if change is not None:
                changes.append((change, ca))
                current[u.group_key] = change.incident if change.incident.is_open else None
        changes = await self._number_new(conn, changes)
        final = {c.incident.id: c.incident for c, _ in changes}
        await store.save(conn, final.values())
        await store.save_sequences(conn, {u.fingerprint: applied[u.fingerprint] for u, _ in fresh})
        events = [incident_event(c, ca) for c, ca in changes]
        await store.append_outbox(
            conn,
            [
                (uuid.UUID(e.event_id), uuid.UUID(e.incident_id), e.sequence, e.type, e.SerializeToString())
                for e in events
            ],
        )
        metrics.count_changes([c.type for c, _ in changes])
        return len(changes)

    async def _number_new(
        self, conn: asyncpg.Connection, changes: list[tuple[Change, CorrelatedAlert]]
    ) -> list[tuple[Change, CorrelatedAlert]]:
        """Give incidents opened in this batch their number, on every change that mentions them."""
        new = list({c.incident.id: c.incident for c, _ in changes if c.incident.number is None}.values())
        if not new:
            return changes
        numbers = {i.id: i.number for i in await store.assign_numbers(conn, new)}
        return [(Change(_numbered(c.incident, numbers), c.type), ca) for c, ca in changes]


def _numbered(incident: Incident, numbers: dict[str, str | None]) -> Incident:
    return replace(incident, number=numbers[incident.id]) if incident.number is None else incident
