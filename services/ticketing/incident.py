"""An incident and how correlated alerts open, update, resolve and reopen it. Pure: ids, times and policy are
passed in. Times are the alerts' own (the correlator's last_seen), so replaying the same alerts decides the same.

Rules, per group key (the incident of a group is its latest one):
- A firing alert with no incident, or whose incident is closed, cancelled or resolved longer than the reopen
  window ago, opens a new incident (referencing the previous one of the group, if any).
- An alert that starts firing while the incident is resolved within the reopen window reopens it.
- Repeats of an alert only add to the alert count, and are not told: a change with no events (the count and
  the time move, the version does not). Whatever else an alert reports is an `updated` event: an incident shows
  what its alerts show (CI, known error, change, flapping) and its priority follows them (impact from the most
  critical CI and how many CIs and services are affected, urgency from the worst firing severity), which is an
  event of its own. So the events an incident gets do not depend on how many repeats reached ticketing
  (the correlator coalesces them as its batches fall), only on what changed.
- When every alert of an open incident has resolved, the incident auto-resolves if its priority's policy says
  so; otherwise it stays open for a human.
"""

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.shared.frozen import evolve

from . import priority as itil
from .lifecycle import OPEN_STATES, Action, IncidentStatus, transition
from .tally import Tally

OPEN_STATUSES = tuple(s.value for s in OPEN_STATES)
_SEVERITY_NAMES = {1: "critical", 2: "major", 3: "minor", 4: "warning", 5: "info"}
_DESCRIBED_ALERTS = 20

Pause = tuple[datetime, datetime | None]


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """What ticketing reads from one CorrelatedAlert."""

    fingerprint: str
    group_key: str
    sequence: int
    firing: bool
    occurrences: int
    severity: int
    title: str
    description: str
    at: datetime  # when the alert was last seen: the time of this change
    first_seen: datetime | None = None  # start of its current firing period (occurrences count from there)
    ci_id: str = ""
    root_ci_id: str = ""
    ci_name: str = ""
    ci_criticality: int = 0  # 1 (most critical) .. 5; 0 unbound
    support_group: str = ""
    service: str = ""
    affected_ci_ids: tuple[str, ...] = ()
    known_error_id: str = ""
    workaround: str = ""
    change_id: str = ""
    during_change: bool = False
    flapping: bool = False
    group_occurrences: int = 0  # the correlator's count for the group key (0: not counted)


@dataclass(frozen=True, slots=True)
class Member:
    """One alert of an incident, as last reported."""

    fingerprint: str
    firing: bool
    occurrences: int
    severity: int
    title: str
    ci_id: str = ""
    ci_criticality: int = 0
    service: str = ""
    flapping: bool = False
    first_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    """How alerts drive incidents; configuration with ITIL defaults."""

    matrix: itil.PriorityMatrix = itil.DEFAULT_MATRIX
    reopen_window: timedelta = timedelta(hours=1)
    auto_resolve: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # priorities the pipeline may resolve


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    number: str | None  # assigned by the store when the incident is first written
    group_key: str
    title: str
    status: str
    priority: int
    opened_at: datetime
    updated_at: datetime
    description: str = ""
    impact: int = int(itil.Impact.MEDIUM)
    urgency: int = int(itil.Urgency.MEDIUM)
    ci_id: str = ""  # the root CI of the group
    ci_name: str = ""
    affected_ci_ids: tuple[str, ...] = ()
    service: str = ""
    assignment_group: str = ""
    assignee: str = ""
    known_error_id: str = ""
    workaround: str = ""
    change_id: str = ""
    during_change: bool = False
    flapping: bool = False
    previous_incident_id: str | None = None
    resolution_code: str = ""
    resolution_notes: str = ""
    acknowledged_at: datetime | None = None  # first taken on by a person (MTTA)
    responded_at: datetime | None = None  # first move out of `new`, by anyone: stops the response clock
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    alert_count: int = 0
    # The group's occurrence count (AlertUpdate.group_occurrences) as far as alert_count has counted it; 0: not yet.
    counted_to: int = 0
    # Resolution-clock pauses: each hold, and the time between a resolve and a reopen.
    pauses: tuple[Pause, ...] = ()
    # SLA marks: the highest share of each target evaluated so far (a breach is never un-recorded).
    response_reached: float = 0.0
    resolution_reached: float = 0.0
    sla_check_at: datetime | None = None  # when the SLA timer must look at it next
    version: int = 0
    members: Mapping[str, Member] = field(default_factory=dict)
    # What the derived fields need from `members`, kept up to date per alert (a cache: see tally).
    tally: Tally | None = field(default=None, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a change: its type, and for SLA and escalation events, what crossed and who is told."""

    type: str
    sla_clock: str = ""
    sla_threshold: float = 0.0
    escalation_group: str = ""
    escalation_level: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    """An incident after a change, and the events that tell it, in order: each event is one version."""

    before: Incident | None
    incident: Incident
    events: tuple[Event, ...]
    actor: str = "triage"
    note: str = ""


def on_alert(
    current: Incident | None, update: AlertUpdate, policy: IncidentPolicy, new_id: Callable[[], str]
) -> Change | None:
    """The change one alert update makes to its group's latest incident (`current`); None: nothing to do.
    `new_id` gives the id of an incident it opens (asked only then: most updates open nothing)."""
    member = _member(update)
    if current is None or not _takes(current, update, policy):
        if not update.firing:
            return None  # a resolve for an alert whose incident is gone: nothing to open
        return _open(current, update, member, policy, new_id())
    before = current.members.get(update.fingerprint)
    if current.status == IncidentStatus.RESOLVED:
        if not update.firing or (before is not None and before.firing):
            return None  # still quiet, or a repeat of what was firing when someone resolved it
        return _reopen(current, update, member, policy)
    return _update(current, update, member, policy)


def _takes(incident: Incident, update: AlertUpdate, policy: IncidentPolicy) -> bool:
    """Does this incident take the update, or is the group's next alert a new incident?"""
    if incident.is_open:
        return True
    if incident.status != IncidentStatus.RESOLVED or incident.resolved_at is None:
        return False  # closed and cancelled incidents stay closed
    return update.at - incident.resolved_at <= policy.reopen_window


def _member(u: AlertUpdate) -> Member:
    return Member(
        u.fingerprint,
        u.firing,
        u.occurrences,
        u.severity,
        u.title,
        u.ci_id,
        u.ci_criticality,
        u.service,
        u.flapping,
        u.first_seen,
    )


def _open(previous: Incident | None, u: AlertUpdate, member: Member, policy: IncidentPolicy, new_id: str) -> Change:
    incident = Incident(
        id=new_id,
        number=None,
        group_key=u.group_key,
        title=u.title,
        status=IncidentStatus.NEW.value,
        priority=0,
        opened_at=u.at,
        updated_at=u.at,
        ci_id=u.root_ci_id or u.ci_id,
        ci_name=u.ci_name if (u.root_ci_id or u.ci_id) == u.ci_id else "",
        assignment_group=u.support_group,
        previous_incident_id=previous.id if previous else None,
        alert_count=u.occurrences,
        counted_to=u.group_occurrences,
        members={u.fingerprint: member},
    )
    incident = _derived(_carried(incident, u), policy)
    return Change(None, incident, (Event("opened"),))


def _reopen(current: Incident, u: AlertUpdate, member: Member, policy: IncidentPolicy) -> Change:
    at = max(u.at, current.updated_at)
    assert current.resolved_at is not None
    status = transition(IncidentStatus(current.status), Action.REOPEN)
    reopened = evolve(
        current,
        status=status.value,
        resolved_at=None,
        resolution_code="",
        resolution_notes="",
        pauses=(*current.pauses, (current.resolved_at, at)),
    )
    return _with_member(current, reopened, u, member, policy, at, "reopened")


def _update(current: Incident, u: AlertUpdate, member: Member, policy: IncidentPolicy) -> Change | None:
    before = current.members.get(u.fingerprint)
    if before == member:
        return None  # the same report again
    at = max(u.at, current.updated_at)
    if _repeats(before, member) and not _learned(current, u):
        return Change(current, _counted(current, before, member, u, at), ())  # derived fields cannot have moved
    change = _with_member(current, current, u, member, policy, at, "updated")
    incident = change.incident
    if _tallied(incident).firing or incident.priority not in policy.auto_resolve:
        return change
    resolved = evolve(
        incident,
        status=transition(IncidentStatus(incident.status), Action.AUTO_RESOLVE).value,
        resolved_at=at,
        responded_at=incident.responded_at or at,
        resolution_code="auto-resolved",
        resolution_notes="Every alert of the incident resolved.",
    )
    return evolve(change, incident=resolved, events=(Event("resolved"), *change.events[1:]))


def _with_member(
    current: Incident,
    base: Incident,
    u: AlertUpdate,
    member: Member,
    policy: IncidentPolicy,
    at: datetime,
    kind: str,
) -> Change:
    incident = _counted(base, current.members.get(u.fingerprint), member, u, at)
    incident = _derived(_carried(incident, u), policy)
    events = (Event(kind), Event("priority_changed")) if incident.priority != current.priority else (Event(kind),)
    return Change(current, incident, events)


def _repeats(before: Member | None, after: Member) -> bool:
    """Is `after` the alert of `before` seen again, firing, with nothing new but its count?"""
    return before is not None and before.firing and evolve(after, occurrences=before.occurrences) == before


def _counted(incident: Incident, before: Member | None, member: Member, u: AlertUpdate, at: datetime) -> Incident:
    """The incident with the alert's report in place of `before`, the group's new occurrences counted: from the
    correlator's group count, which also holds the repeats of its other alerts not told yet; by the alert's own
    count when the update or the incident has none (from before the count existed)."""
    if u.group_occurrences and incident.counted_to:
        added = max(0, u.group_occurrences - incident.counted_to)
    else:
        added = _new_occurrences(before, member)
    members = {**incident.members, member.fingerprint: member}
    return evolve(
        incident,
        members=members,
        tally=_moved_on(incident, member, members),
        alert_count=incident.alert_count + added,
        counted_to=max(incident.counted_to, u.group_occurrences),
        updated_at=at,
    )


def _new_occurrences(before: Member | None, after: Member) -> int:
    """Occurrences the update adds. The correlator counts per firing period: a new period (a new first_seen)
    counts from 1 again, a resumed one goes on."""
    if before is None or after.first_seen != before.first_seen:
        return after.occurrences
    return max(0, after.occurrences - before.occurrences)


def _carried(incident: Incident, u: AlertUpdate) -> Incident:
    """What the incident learns from an alert: first known value wins; a person's assignment is never undone."""
    learned = _learned(incident, u)
    return evolve(incident, **learned) if learned else incident


def _learned(incident: Incident, u: AlertUpdate) -> dict[str, object]:
    """The fields the alert changes (see _carried); none for most reports, which are repeats."""
    root = incident.ci_id or u.root_ci_id or u.ci_id
    carried = {
        "ci_id": root,
        "ci_name": incident.ci_name or (u.ci_name if u.ci_id == root else ""),
        "service": incident.service or u.service,
        "assignment_group": incident.assignment_group or u.support_group,
        "known_error_id": incident.known_error_id or u.known_error_id,
        "workaround": incident.workaround or u.workaround,
        "change_id": incident.change_id or u.change_id,
        "during_change": incident.during_change or u.during_change,
        "affected_ci_ids": _affected(incident.affected_ci_ids, u.affected_ci_ids, u.ci_id),
    }
    return {name: value for name, value in carried.items() if getattr(incident, name) != value}


def _affected(known: tuple[str, ...], group: tuple[str, ...], ci_id: str) -> tuple[str, ...]:
    """The incident's affected CIs (sorted) with the ones an alert reports (its group's and its own): `known` itself
    when it holds them all, as nearly every report does. Sorting them all again per report cost ~1 ms per alert in
    an incident of 5,000 CIs; now the group's CIs are usually the incident's already (compared whole), a few are
    looked up by bisection, many as a set, and new ones are merged in without a full sort."""
    if group == known and (not ci_id or _holds(known, ci_id)):
        return known
    reported = (*group, ci_id) if ci_id else group
    if len(reported) <= 16:
        missing = {ci for ci in reported if not _holds(known, ci)}
    else:
        missing = set(reported).difference(known)
    # Two sorted runs, which the sort merges in one pass.
    return tuple(sorted((*known, *sorted(missing)))) if missing else known


def _holds(ordered: tuple[str, ...], item: str) -> bool:
    at = bisect.bisect_left(ordered, item)
    return at < len(ordered) and ordered[at] == item


def _derived(incident: Incident, policy: IncidentPolicy) -> Incident:
    """Fields that follow from the members: priority, flapping, description."""
    tally = _tallied(incident)
    impact, urgency = assess(incident, tally)
    return evolve(
        incident,
        impact=int(impact),
        urgency=int(urgency),
        priority=itil.priority(impact, urgency, policy.matrix)
        if tally.firing or not incident.priority
        else incident.priority,
        flapping=tally.flapping > 0,
        description=describe(incident.members, tally),
        tally=tally,
    )


def _tallied(incident: Incident) -> Tally:
    """The incident's tally of its alerts; counted afresh when it has none that counts them (loaded, or an older
    version whose tally moved on)."""
    tally = incident.tally
    return tally if tally is not None and tally.counts(incident.members) else Tally.count(incident.members)


def _moved_on(incident: Incident, member: Member, members: Mapping[str, Member]) -> Tally:
    """The incident's tally moved on to `members`: its alerts with `member` in place of the same fingerprint's."""
    tally = _tallied(incident)
    tally.move_on(incident.members.get(member.fingerprint), member, members)
    return tally


def assess(incident: Incident, tally: Tally) -> tuple[itil.Impact, itil.Urgency]:
    """ITIL impact and urgency. With nothing firing, they stay as they were (a resolve lowers nothing)."""
    if not tally.firing:
        return itil.Impact(incident.impact), itil.Urgency(incident.urgency)
    impact = itil.impact_from(tally.lowest_criticality, len(incident.affected_ci_ids), len(tally.services))
    worst = tally.worst_firing_severity or 4
    return impact, itil.urgency_from_severity(_SEVERITY_NAMES.get(worst, "warning"))


def describe(members: Mapping[str, Member], tally: Tally) -> str:
    """The description built from the alerts (`tally` counts them): firing first, then resolved, a bounded list."""
    first = [members[fp] for fp in tally.first(_DESCRIBED_ALERTS)]
    lines = [
        f"- [{'firing' if m.firing else 'resolved'}] {_SEVERITY_NAMES.get(m.severity, 'warning')}: {m.title}"
        + (f" (CI {m.ci_id})" if m.ci_id else "")
        for m in first
    ]
    if len(members) > _DESCRIBED_ALERTS:
        lines.append(f"- ... and {len(members) - _DESCRIBED_ALERTS} more")
    return f"{len(members)} alert(s), {tally.firing} firing:\n" + "\n".join(lines)


def versioned(change: Change) -> Change:
    """Each event is one version of the incident: its sequence on incidents.events, gap-free."""
    base = change.before.version if change.before else 0
    return evolve(change, incident=evolve(change.incident, version=base + len(change.events)))


def with_events(change: Change, incident: Incident, events: tuple[Event, ...]) -> Change:
    return evolve(change, incident=incident, events=change.events + events)


_AUDITED = (
    "title", "status", "priority", "impact", "urgency", "ci_id", "service", "assignment_group", "assignee",
    "known_error_id", "change_id", "during_change", "flapping", "alert_count", "resolution_code",
    "acknowledged_at", "resolved_at", "closed_at",
)  # fmt: skip


def differences(before: Incident | None, after: Incident) -> dict[str, list[object]]:
    """What a change changed, field by field ([old, new]), for the audit trail."""
    out = {}
    for name in _AUDITED:
        old, new = (getattr(before, name) if before else None), getattr(after, name)
        if old != new:
            out[name] = [_plain(old), _plain(new)]
    return out


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def number(seq: int) -> str:
    """INC0000001 .. INC9999999, then INC10000000: never truncated."""
    return f"INC{seq:07d}"
