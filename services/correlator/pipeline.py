"""alerts.normalized -> correlation -> alerts.correlated, one database transaction per consumed batch;
plus the timer-driven emissions (expiry, held resolves, missed heartbeats) in their own transactions.

Every lookup is in memory (the Snapshot) or batched (one query per table per batch). Times come from the
alerts themselves (received_at, endsAt), so replaying the topic rebuilds the same state.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError

from services.shared import kafka
from services.shared.contracts import FIRING, RESOLVED, Alert, CorrelatedAlert
from services.shared.contracts.maps import as_dict, fill
from services.shared.contracts.timestamps import stamp, utc
from services.shared.event_ids import NamedIds
from services.shared.frozen import evolve
from services.shared.postgres import save_offsets

from . import heartbeats, metrics, store
from .correlation import Bound, OpenGroup, Sighting, Snapshot, Told, Tracked, bound, correlate_all, due
from .dedup import Observation, next_sequence
from .snapshots import SnapshotCache

log = logging.getLogger(__name__)
_EVENT_IDS = NamedIds(uuid.UUID("6f1c2a8e-6f0e-4c38-9a57-2f1c5b9d7a10"))
SWEEP_LIMIT = 1000  # states (and heartbeats) per sweep transaction


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
        firing=alert.status == FIRING,
        severity=alert.severity,
        title=alert.summary or alert.labels.get("alertname", alert.fingerprint),
        description=alert.description,
        source=alert.source,
        labels=as_dict(alert.labels),
        at=received_at(alert),
    )


def sighting(alert: Alert) -> Sighting:
    ends_at = utc(alert.ends_at) if alert.HasField("ends_at") else None
    firing = alert.status == FIRING
    return Sighting(observation(alert), ends_at if firing else None)


def emission(
    t: Tracked,
    snap: Snapshot,
    group: OpenGroup | None,
    cause_event_id: str,
    cause_at: datetime | None,
    sequence: int,
) -> kafka.Outgoing:
    """The CorrelatedAlert for state `t` numbered `sequence`; its event id is a function of (fingerprint,
    sequence), so a batch replayed after a crash re-emits the same id."""
    s = t.alert
    # The stable key (root CI or label digest), not the time-window instance: while an incident is open,
    # a later alert on the same root joins it instead of opening a second one; ticketing owns reopen rules.
    key = t.incident_key
    ca = CorrelatedAlert(
        event_id=_EVENT_IDS(f"{s.fingerprint}/{sequence}"),
        sequence=sequence,
        group_key=key,
        fingerprint=s.fingerprint,
        status=FIRING if t.shown_firing else RESOLVED,
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
        group_occurrences=group.occurrences if group is not None else 0,
    )
    fill(ca.labels, s.labels)
    stamp(ca.first_seen, s.first_seen)
    stamp(ca.last_seen, s.last_seen)
    if cause_at is not None:
        stamp(ca.cause_received_at, cause_at)
    ci = snap.cmdb.get(t.ci_id) if t.ci_id else None
    if ci is not None:
        ca.ci_name, ca.ci_class, ca.ci_criticality = ci.name, ci.ci_class, ci.criticality
        ca.support_group, ca.environment = ci.support_group, ci.environment
        ca.service = snap.cmdb.business_service(ci.id)
    if group is not None and group.instance.id == t.group_id:  # the group as it was when `t` was reached
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
        sightings: list[tuple[str, Sighting]] = []  # in record order: the consumer merges partitions by time
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
                sightings.append((alert.fingerprint, sighting(alert)))
        alerts = len(sightings) + len(beats)
        async with self._pool.acquire() as conn, conn.transaction():
            snap = await self._snapshots.at_least(self._pool, await store.cmdb_version(conn))
            await self._beats(conn, beats, sightings)
            result = await correlated(conn, snap, sightings)
            outgoing += result.emissions
            # Acknowledged before the commit (the broker's wait overlapping the writes): if the commit then fails,
            # the retry re-emits the same event ids.
            async with kafka.publishing(self._publisher, outgoing):
                await saved(conn, result)
                await save_offsets(conn, kafka.next_offsets(records))
        metrics.ALERTS.inc(alerts)
        metrics.EMITTED.inc(sum(1 for o in outgoing if o.topic == kafka.CORRELATED))

    async def _beats(
        self,
        conn: asyncpg.Connection,
        beats: list[Alert],
        sightings: list[tuple[str, Sighting]],
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
                sightings.append((current.fingerprint, Sighting(heartbeats.back(current, alert.event_id))))
        metrics.HEARTBEATS.inc(len(beats))
        await store.save_heartbeats(conn, list(changed.values()))


@dataclass(frozen=True, slots=True)
class Correlated:
    """A batch's sightings correlated against the stored states: what to emit, and what to write."""

    emissions: list[kafka.Outgoing]
    changed: list[Tracked]
    groups: list[OpenGroup]


async def correlated(conn: asyncpg.Connection, snap: Snapshot, sightings: list[tuple[str, Sighting]]) -> Correlated:
    """Correlate the sightings against the stored states (locked)."""
    if not sightings:
        return Correlated([], [], [])
    states = await store.load(conn, list({fp for fp, _ in sightings}))
    found = [bound(s.observation, snap) for _, s in sightings]  # once per sighting: for the locks, then to correlate
    groups = await store.load_groups(conn, _candidate_keys(states, found))
    loaded = dict(groups)
    changed, told = correlate_batch(states, sightings, groups, snap, found)
    emissions = [emission(t.state, snap, t.group, t.cause.event_id, t.cause.at, t.sequence) for t in told]
    metrics.DURING_CHANGE.inc(sum(1 for t in told if t.state.during_change))
    metrics.SUPPRESSED.inc(sum(1 for t in changed if t.suppressed and not t.announced))
    return Correlated(emissions, changed, [g for k, g in groups.items() if loaded.get(k) != g])


async def saved(conn: asyncpg.Connection, result: Correlated) -> None:
    await store.save(conn, result.changed)
    await store.save_links(conn, result.changed)
    await store.save_groups(conn, result.groups)


async def apply(
    conn: asyncpg.Connection, snap: Snapshot, sightings: list[tuple[str, Sighting]], outgoing: list[kafka.Outgoing]
) -> None:
    """Correlate the sightings against the stored states; save what changed."""
    result = await correlated(conn, snap, sightings)
    outgoing += result.emissions
    await saved(conn, result)


def correlate_batch(
    states: dict[str, Tracked],
    sightings: list[tuple[str, Sighting]],
    groups: dict[str, OpenGroup],
    snap: Snapshot,
    found: list[Bound] | None = None,
) -> tuple[list[Tracked], list[Told]]:
    """The batch's changed states, and what to emit, numbered, in the order of the sightings (the order their
    alerts happened: the correlator's consumer merges its partitions by time). Taken one by one in that order,
    group instances open and continue, and a group's alerts change status, as they happened, whatever the
    batch boundaries. `groups` is updated; `found` as for correlate_all. No I/O."""
    current, told = correlate_all(states, sightings, groups, snap, found)
    sequences = {fp: t.alert.sequence if t else 0 for fp, t in current.items()}
    numbered = []
    for t in told:
        fingerprint = t.state.alert.fingerprint
        sequences[fingerprint] = next_sequence(sequences[fingerprint], t.cause.at)
        numbered.append(Told(t.state, t.group, t.cause, sequences[fingerprint]))
    # By identity: correlate_all keeps the state it was given unless a sighting changed it (see there).
    changed = [_numbered(t, sequences[fp]) for fp, t in current.items() if t is not None and t is not states.get(fp)]
    return changed, numbered


def _numbered(t: Tracked, sequence: int) -> Tracked:
    if t.alert.sequence == sequence:
        return t  # nothing told of it (a held repeat): two rebuilds saved on the storm's most common path
    return evolve(t, alert=evolve(t.alert, sequence=sequence))


def _candidate_keys(states: dict[str, Tracked], found: Iterable[Bound]) -> set[str]:
    """Group keys the batch may touch: each alert's own, and the key each of its label sets binds to."""
    keys = {t.group_key for t in states.values() if t.group_key}
    keys.update(b.group_key.key for b in found)
    return keys


async def sweep(
    pool: asyncpg.Pool,
    publisher: kafka.Publisher,
    snapshots: SnapshotCache,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int = SWEEP_LIMIT,
) -> int:
    """Timer-driven emissions: expired alerts, held resolves of quiet flapping alerts, held repeats whose interval
    ended, missed heartbeats. Returns how many states changed."""
    moment = now()
    outgoing: list[kafka.Outgoing] = []
    async with pool.acquire() as conn, conn.transaction():
        snap = await snapshots.at_least(pool, await store.cmdb_version(conn))
        states = await store.load_due(conn, moment, limit, moment - snap.repeat_interval)
        groups = await store.load_groups(conn, [t.group_key for t, _ in states if t.group_key], lock=False)
        changed = _timed(states, moment, outgoing, snap, groups)
        overdue = [
            hb for hb in await store.load_overdue_heartbeats(conn, moment, limit) if heartbeats.overdue(hb, moment)
        ]
        missed = [heartbeats.missed(hb) for hb in overdue]
        await store.save_heartbeats(conn, [hb for hb, _ in missed])
        await apply(conn, snap, [(hb.fingerprint, Sighting(obs)) for hb, obs in missed], outgoing)
        await store.save(conn, changed)
        await publisher.publish(outgoing)
    metrics.EXPIRED.inc(sum(1 for t in changed if t.expired))
    metrics.HELD_TOLD.inc(sum(1 for t in changed if not t.expired and t.alert.firing))
    metrics.HEARTBEATS_MISSED.inc(len(missed))
    metrics.EMITTED.inc(len(outgoing))
    return len(changed) + len(missed)


def _timed(
    states: Iterable[tuple[Tracked, bool]],
    moment: datetime,
    outgoing: list[kafka.Outgoing],
    snap: Snapshot,
    groups: dict[str, OpenGroup],
) -> list[Tracked]:
    changed = []
    for t, quiet in states:
        result = due(t, moment, quiet)
        if result is None:
            continue
        after, caused_at = result
        if caused_at is not None:
            after = _numbered(after, next_sequence(after.alert.sequence, caused_at))
            outgoing.append(emission(after, snap, groups.get(after.group_key), "", None, after.alert.sequence))
        changed.append(after)
    return changed
