"""alerts.normalized -> correlation -> alerts.correlated, one database transaction per consumed batch;
plus the timer-driven emissions (expiry, held resolves, missed heartbeats) in their own transactions.

Every lookup is in memory (the Snapshot) or batched (one query per table per batch). Times come from the
alerts themselves (received_at, endsAt), so replaying the topic rebuilds the same state.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import asyncpg
from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError

from services.shared import kafka
from services.shared.contracts import Alert, AlertStatus, CorrelatedAlert
from services.shared.contracts.timestamps import utc
from services.shared.frozen import evolve
from services.shared.postgres import save_offsets

from . import heartbeats, metrics, store
from .binding import bind
from .correlation import OpenGroup, Sighting, Snapshot, Tracked, correlate, expire, status_runs
from .dedup import Observation, next_sequence
from .grouping import group_key_for
from .snapshots import SnapshotCache

log = logging.getLogger(__name__)
_EVENT_NAMESPACE = uuid.UUID("6f1c2a8e-6f0e-4c38-9a57-2f1c5b9d7a10")


def decode(record: ConsumerRecord) -> Alert:
    alert = Alert()
    alert.ParseFromString(record.value or b"")
    if not alert.fingerprint or not alert.event_id:
        raise DecodeError("alert without fingerprint or event_id")
    return alert


def received_at(alert: Alert) -> datetime:
    return utc(alert.received_at)


def observation(alert: Alert) -> Observation:
    return Observation(
        event_id=alert.event_id,
        firing=alert.status == AlertStatus.ALERT_STATUS_FIRING,
        severity=alert.severity,
        title=alert.summary or alert.labels.get("alertname", alert.fingerprint),
        description=alert.description,
        source=alert.source,
        labels=dict(alert.labels),
        at=received_at(alert),
    )


def sighting(alert: Alert) -> Sighting:
    ends_at = utc(alert.ends_at) if alert.HasField("ends_at") else None
    firing = alert.status == AlertStatus.ALERT_STATUS_FIRING
    return Sighting(observation(alert), ends_at if firing else None)


def emission(
    t: Tracked, snap: Snapshot, groups: dict[str, OpenGroup], cause_event_id: str, cause_at: datetime | None
) -> kafka.Outgoing:
    """The CorrelatedAlert for state `t`; its event id is a function of (fingerprint, sequence), so a batch
    replayed after a crash re-emits the same id."""
    s = t.alert
    # The stable key (root CI or label digest), not the time-window instance: while an incident is open,
    # a later alert on the same root joins it instead of opening a second one; ticketing owns reopen rules.
    key = t.incident_key
    ca = CorrelatedAlert(
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"{s.fingerprint}/{s.sequence}")),
        sequence=s.sequence,
        group_key=key,
        fingerprint=s.fingerprint,
        status=AlertStatus.ALERT_STATUS_FIRING if t.shown_firing else AlertStatus.ALERT_STATUS_RESOLVED,
        severity=s.severity,
        title=s.title,
        description=s.description,
        source=s.source,
        occurrences=s.occurrences,
        cause_event_id=cause_event_id,
        ci_id=t.ci_id or "",
        root_ci_id=t.root_ci_id or "",
        known_error_id=t.known_error_id or "",
        change_id=t.change_id or "",
        maintenance_window_id=t.window_id or "",
        during_change=t.during_change,
        flapping=t.flap.flapping,
        expired=t.expired,
    )
    ca.labels.update(s.labels)
    ca.first_seen.FromDatetime(s.first_seen)
    ca.last_seen.FromDatetime(s.last_seen)
    if cause_at is not None:
        ca.cause_received_at.FromDatetime(cause_at)
    ci = snap.cmdb.get(t.ci_id) if t.ci_id else None
    if ci is not None:
        ca.ci_name, ca.ci_class, ca.ci_criticality = ci.name, ci.ci_class, ci.criticality
        ca.support_group, ca.environment = ci.support_group, ci.environment
        ca.service = snap.cmdb.business_service(ci.id)
    group = groups.get(t.group_key)
    if group is not None and group.instance.id == t.group_id:
        ca.affected_ci_ids.extend(sorted(group.affected))
    known = snap.known_errors.get(t.known_error_id) if t.known_error_id else None
    if known is not None:
        ca.known_error_title, ca.workaround, ca.problem_ref = known.title, known.workaround, known.problem_ref
    return kafka.Outgoing(kafka.CORRELATED, key.encode(), ca.SerializeToString(), [])


class Correlation:
    """The batch handler: decode, coalesce per fingerprint, correlate, emit, store state and offsets together."""

    def __init__(self, pool: asyncpg.Pool, publisher: kafka.Publisher, snapshots: SnapshotCache):
        self._pool, self._publisher, self._snapshots = pool, publisher, snapshots

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        by_fingerprint: dict[str, list[Alert]] = defaultdict(list)
        beats: list[Alert] = []
        outgoing: list[kafka.Outgoing] = []
        for record in records:
            try:
                alert = decode(record)
            except (DecodeError, ValueError) as exc:
                outgoing.append(kafka.dead_letter(record, f"undecodable Alert: {exc}"))
                metrics.DEAD_LETTERS.inc()
                continue
            if alert.source == heartbeats.SOURCE and alert.labels.get("heartbeat"):
                beats.append(alert)
            else:
                by_fingerprint[alert.fingerprint].append(alert)
        async with self._pool.acquire() as conn, conn.transaction():
            snap = await self._snapshots.at_least(self._pool, await store.cmdb_version(conn))
            sightings = {fp: [sighting(a) for a in alerts] for fp, alerts in by_fingerprint.items()}
            causes = {fp: alerts[-1] for fp, alerts in by_fingerprint.items()}
            await self._beats(conn, beats, sightings, causes)
            await apply(conn, snap, sightings, causes, outgoing)
            # Published before the commit: if the commit then fails, the retry re-emits the same event ids.
            await self._publisher.publish(outgoing)
            await save_offsets(conn, kafka.next_offsets(records))
        metrics.ALERTS.inc(sum(len(v) for v in by_fingerprint.values()) + len(beats))
        metrics.EMITTED.inc(sum(1 for o in outgoing if o.topic == kafka.CORRELATED))

    async def _beats(
        self,
        conn: asyncpg.Connection,
        beats: list[Alert],
        sightings: dict[str, list[Sighting]],
        causes: dict[str, Alert],
    ) -> None:
        """Record beats; a beat of a missed heartbeat resolves its synthetic alert."""
        if not beats:
            return
        known = await store.load_heartbeats(conn, [a.labels["heartbeat"] for a in beats])
        changed = {}
        for alert in beats:
            beat = heartbeats.beat_of(alert.source, alert.labels, alert.summary, received_at(alert))
            if beat is None:
                continue
            current, came_back = heartbeats.record_beat(known.get(beat.name), beat)
            known[beat.name] = changed[beat.name] = current
            if came_back:
                sightings.setdefault(current.fingerprint, []).append(Sighting(heartbeats.back(current, alert.event_id)))
                causes[current.fingerprint] = alert
        metrics.HEARTBEATS.inc(len(beats))
        await store.save_heartbeats(conn, list(changed.values()))


async def apply(
    conn: asyncpg.Connection,
    snap: Snapshot,
    sightings: dict[str, list[Sighting]],
    causes: dict[str, Alert],
    outgoing: list[kafka.Outgoing],
) -> None:
    """Correlate each fingerprint's sightings against its stored state; save what changed."""
    if not sightings:
        return
    states = await store.load(conn, list(sightings))
    groups = await store.load_groups(conn, _candidate_keys(states, sightings, snap))
    loaded = dict(groups)
    changed, emitted = correlate_batch(states, sightings, groups, snap)
    outgoing += emissions(emitted, snap, groups, causes)
    metrics.DURING_CHANGE.inc(sum(1 for t, _ in emitted if t.during_change))
    metrics.SUPPRESSED.inc(sum(1 for t in changed if t.suppressed and not t.announced))
    await store.save(conn, changed)
    await store.save_links(conn, changed)
    await store.save_groups(conn, [g for k, g in groups.items() if loaded.get(k) != g])


Emission = tuple[Tracked, OpenGroup | None]  # a state to emit, and its group as it was then


def correlate_batch(
    states: dict[str, Tracked], sightings: dict[str, list[Sighting]], groups: dict[str, OpenGroup], snap: Snapshot
) -> tuple[list[Tracked], list[Emission]]:
    """The batch's changed states, and its emissions numbered and in the order of their causes' times. Each
    fingerprint's sightings are cut where their status changes, and the pieces of all fingerprints correlated in
    the order they began: group instances open and continue, and a group's alerts change status, as they
    happened, whatever the batch boundaries. `groups` is updated. No I/O."""
    current: dict[str, Tracked | None] = {fp: states.get(fp) for fp in sightings}
    sequences = {fp: t.alert.sequence if t else 0 for fp, t in current.items()}
    emitted: list[tuple[datetime, Tracked, OpenGroup | None]] = []
    for fingerprint, piece in _pieces(states, sightings):
        after, caused = correlate(current[fingerprint], fingerprint, piece, groups, snap)
        for state, caused_at in caused:
            sequences[fingerprint] = next_sequence(sequences[fingerprint], caused_at)
            emitted.append((caused_at, _numbered(state, sequences[fingerprint]), groups.get(state.group_key)))
        current[fingerprint] = after
    unchanged = {fp for fp, after in current.items() if after is None or after == states.get(fp)}
    changed = [_numbered(t, sequences[fp]) for fp, t in current.items() if t is not None and fp not in unchanged]
    emitted.sort(key=lambda e: e[0])  # stable: one fingerprint's emissions keep their order
    return changed, [(t, group) for _, t, group in emitted if t.alert.fingerprint not in unchanged]


def _pieces(states: dict[str, Tracked], sightings: dict[str, list[Sighting]]) -> list[tuple[str, list[Sighting]]]:
    pieces = []
    for fingerprint, items in sightings.items():
        start = None
        for run in status_runs(states.get(fingerprint), items):
            at = run[0].observation.at
            start = at if start is None else max(start, at)  # a fingerprint's pieces keep their order
            pieces.append((start, fingerprint, len(pieces), run))
    pieces.sort(key=lambda p: p[:3])
    return [(fingerprint, run) for _, fingerprint, _, run in pieces]


def emissions(
    emitted: list[Emission], snap: Snapshot, groups: dict[str, OpenGroup], causes: dict[str, Alert]
) -> list[kafka.Outgoing]:
    """The CorrelatedAlerts of a batch; each shows its group (affected CIs) as it was when the state was reached."""
    out = []
    for t, group in emitted:
        cause = causes.get(t.alert.fingerprint)
        seen = {t.group_key: group} if group is not None else {}
        out.append(emission(t, snap, seen, cause.event_id if cause else "", _cause_at(cause)))
    return out


def _numbered(t: Tracked, sequence: int) -> Tracked:
    return evolve(t, alert=evolve(t.alert, sequence=sequence))


def _cause_at(cause: Alert | None) -> datetime | None:
    return received_at(cause) if cause is not None and cause.HasField("received_at") else None


def _candidate_keys(states: dict[str, Tracked], sightings: dict[str, list[Sighting]], snap: Snapshot) -> set[str]:
    """Group keys the batch may touch: each alert's own, and the key its latest labels bind to."""
    keys = {t.group_key for t in states.values() if t.group_key}
    for items in sightings.values():
        for labels in {tuple(sorted(s.observation.labels.items())) for s in items}:
            binding = bind(dict(labels), snap.cmdb, snap.rules)
            keys.add(group_key_for(binding.ci_id, dict(labels), snap.cmdb, snap.grouping).key)
    return keys


async def sweep(
    pool: asyncpg.Pool,
    publisher: kafka.Publisher,
    snapshots: SnapshotCache,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int = 1000,
) -> int:
    """Timer-driven emissions: expired alerts, held resolves of quiet flapping alerts, missed heartbeats.
    Returns how many states changed."""
    moment = now()
    outgoing: list[kafka.Outgoing] = []
    async with pool.acquire() as conn, conn.transaction():
        snap = await snapshots.at_least(pool, await store.cmdb_version(conn))
        due = await store.load_due(conn, moment, limit)
        groups = await store.load_groups(conn, [t.group_key for t in due if t.group_key], lock=False)
        changed = _expired(due, moment, outgoing, snap, groups)
        overdue = [
            hb for hb in await store.load_overdue_heartbeats(conn, moment, limit) if heartbeats.overdue(hb, moment)
        ]
        missed = [heartbeats.missed(hb) for hb in overdue]
        await store.save_heartbeats(conn, [hb for hb, _ in missed])
        synthetic = {hb.fingerprint: [Sighting(obs)] for hb, obs in missed}
        await apply(conn, snap, synthetic, {}, outgoing)
        await store.save(conn, changed)
        await publisher.publish(outgoing)
    metrics.EXPIRED.inc(sum(1 for t in changed if t.expired))
    metrics.HEARTBEATS_MISSED.inc(len(missed))
    metrics.EMITTED.inc(len(outgoing))
    return len(changed) + len(missed)


def _expired(
    due: Iterable[Tracked],
    moment: datetime,
    outgoing: list[kafka.Outgoing],
    snap: Snapshot,
    groups: dict[str, OpenGroup],
) -> list[Tracked]:
    changed = []
    for t in due:
        result = expire(t, moment)
        if result is None:
            continue
        after, emit = result
        if emit:
            after = _numbered(after, next_sequence(after.alert.sequence, t.expires_at or moment))
            outgoing.append(emission(after, snap, groups, "", None))
        changed.append(after)
    return changed
