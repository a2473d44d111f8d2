"""How correlated alerts open, update and resolve an incident. Pure: the caller supplies ids and time."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

OPEN_STATUSES = ("new", "in_progress", "on_hold")

# Urgency from the worst firing severity (1 critical .. 5 info); impact is medium until the CMDB binds a CI.
_PRIORITY_BY_SEVERITY = {1: 2, 2: 2, 3: 3, 4: 3, 5: 4}


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
    ci_id: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    fingerprint: str
    firing: bool
    occurrences: int
    severity: int
    title: str


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    number: str | None  # assigned by the store when the incident is first written
    group_key: str
    title: str
    description: str
    status: str
    priority: int
    ci_id: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    version: int = 1
    members: Mapping[str, Member] = field(default_factory=dict)

    @property
    def alert_count(self) -> int:
        return sum(m.occurrences for m in self.members.values())

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Change:
    incident: Incident
    type: str  # opened | updated | resolved


def priority_of(members: Mapping[str, Member]) -> int:
    firing = [m.severity for m in members.values() if m.firing] or [m.severity for m in members.values()]
    worst = min((s for s in firing if s), default=4)
    return _PRIORITY_BY_SEVERITY.get(worst, 3)


def apply(incident: Incident | None, update: AlertUpdate, now: datetime, new_id: str) -> Change | None:
    """The change one alert update makes to the open incident of its group (None: there is none)."""
    member = Member(update.fingerprint, update.firing, update.occurrences, update.severity, update.title)
    if incident is None:
        if not update.firing:
            return None  # a resolve for an alert whose incident is already resolved or never opened
        members = {update.fingerprint: member}
        opened = Incident(
            id=new_id,
            number=None,
            group_key=update.group_key,
            title=update.title,
            description=update.description,
            status="new",
            priority=priority_of(members),
            ci_id=update.ci_id,
            opened_at=now,
            updated_at=now,
            members=members,
        )
        return Change(opened, "opened")
    members = {**incident.members, update.fingerprint: member}
    if members == dict(incident.members):
        return None
    resolved = not any(m.firing for m in members.values())
    changed = replace(
        incident,
        members=members,
        priority=priority_of(members),
        updated_at=now,
        version=incident.version + 1,
        status="resolved" if resolved else incident.status,
        resolved_at=now if resolved else None,
    )
    return Change(changed, "resolved" if resolved else "updated")
