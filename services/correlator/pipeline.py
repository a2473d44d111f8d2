"""alerts.normalized -> dedup -> alerts.correlated, one database transaction per consumed batch."""

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC

import asyncpg
from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError

from services.shared import kafka
from services.shared.contracts import Alert, AlertStatus, CorrelatedAlert
from services.shared.postgres import save_offsets

from . import metrics, store
from .dedup import AlertState, Observation, needs_emission, observe_all

log = logging.getLogger(__name__)
_EVENT_NAMESPACE = uuid.UUID("6f1c2a8e-6f0e-4c38-9a57-2f1c5b9d7a10")


def decode(record: ConsumerRecord) -> Alert:
    alert = Alert()
    alert.ParseFromString(record.value or b"")
    if not alert.fingerprint or not alert.event_id:
        raise DecodeError("alert without fingerprint or event_id")
    return alert


def observation(alert: Alert) -> Observation:
    return Observation(
        event_id=alert.event_id,
        firing=alert.status == AlertStatus.ALERT_STATUS_FIRING,
        severity=alert.severity,
        title=alert.summary or alert.labels.get("alertname", alert.fingerprint),
        description=alert.description,
        source=alert.source,
        labels=dict(alert.labels),
        at=alert.received_at.ToDatetime(tzinfo=UTC),
    )


def group_key(state: AlertState) -> str:
    return f"alert:{state.fingerprint}"


def emission(state: AlertState, key: str, cause: Alert) -> kafka.Outgoing:
    # The event id is a function of (fingerprint, sequence): a batch replayed after a crash re-emits the same id.
    ca = CorrelatedAlert(
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"{state.fingerprint}/{state.sequence}")),
        sequence=state.sequence,
        group_key=key,
        fingerprint=state.fingerprint,
        status=AlertStatus.ALERT_STATUS_FIRING if state.firing else AlertStatus.ALERT_STATUS_RESOLVED,
        severity=state.severity,
        title=state.title,
        description=state.description,
        source=state.source,
        occurrences=state.occurrences,
        cause_event_id=cause.event_id,
    )
    ca.labels.update(state.labels)
    ca.first_seen.FromDatetime(state.first_seen)
    ca.last_seen.FromDatetime(state.last_seen)
    ca.cause_received_at.CopyFrom(cause.received_at)
    return kafka.Outgoing(kafka.CORRELATED, key.encode(), ca.SerializeToString(), [])


class Correlation:
    """The batch handler: decode, coalesce per fingerprint, apply, emit, store state and offsets together."""

    def __init__(self, pool: asyncpg.Pool, publisher: kafka.Publisher):
        self._pool, self._publisher = pool, publisher

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        by_fingerprint: dict[str, list[Alert]] = defaultdict(list)
        outgoing: list[kafka.Outgoing] = []
        for record in records:
            try:
                alert = decode(record)
            except (DecodeError, ValueError) as exc:
                outgoing.append(kafka.dead_letter(record, f"undecodable Alert: {exc}"))
                metrics.DEAD_LETTERS.inc()
                continue
            by_fingerprint[alert.fingerprint].append(alert)
        async with self._pool.acquire() as conn, conn.transaction():
            changed = await self._apply(conn, by_fingerprint, outgoing)
            await store.save(conn, changed)
            # Published before the commit: if the commit then fails, the retry re-emits the same event ids.
            await self._publisher.publish(outgoing)
            await save_offsets(conn, kafka.next_offsets(records))
        metrics.ALERTS.inc(sum(len(v) for v in by_fingerprint.values()))
        metrics.EMITTED.inc(sum(1 for o in outgoing if o.topic == kafka.CORRELATED))

    async def _apply(
        self, conn: asyncpg.Connection, by_fingerprint: dict[str, list[Alert]], outgoing: list[kafka.Outgoing]
    ) -> Sequence[tuple[AlertState, str]]:
        states = await store.load(conn, list(by_fingerprint))
        changed = []
        for fingerprint, alerts in by_fingerprint.items():
            before = states.get(fingerprint)
            after = observe_all(before, fingerprint, [observation(a) for a in alerts])
            if after is None or after == before:
                continue
            if needs_emission(before, after):
                after = replace(after, sequence=after.sequence + 1)
                outgoing.append(emission(after, group_key(after), alerts[-1]))
            changed.append((after, group_key(after)))
        return changed
