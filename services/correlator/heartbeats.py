"""Heartbeats (dead-man switch): a sender promises its next beat within an interval; a missed beat raises a
synthetic alert on the heartbeat's CI, and the next beat resolves it.

Ingest carries each beat on alerts.normalized as an Alert with source "heartbeat", fingerprint
"heartbeat:<name>" and labels heartbeat=<name>, interval_seconds=<n>, ci=<CI id or name> (optional).
Beats are tracked here, never treated as alerts themselves. The synthetic alert uses the same fingerprint
and the beat's labels (so `ci` binds it); its times are the due time and the returning beat's time, so
the check itself may run on any clock, at any cadence.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from .dedup import Observation

SOURCE = "heartbeat"
SEVERITY_MAJOR = 2  # Severity.SEVERITY_MAJOR of the contract


@dataclass(frozen=True, slots=True)
class Heartbeat:
    name: str
    interval: timedelta
    last_beat_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    summary: str = ""
    missed: bool = False  # the synthetic alert is raised

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    @property
    def fingerprint(self) -> str:
        return f"heartbeat:{self.name}"

    @property
    def due_at(self) -> datetime:
        return self.last_beat_at + self.interval


def beat_of(source: str, labels: Mapping[str, str], summary: str, at: datetime) -> Heartbeat | None:
    """The beat an inbound alert carries, or None when it is not a (well-formed) beat."""
    name = labels.get("heartbeat")
    if source != SOURCE or not name:
        return None
    try:
        seconds = int(labels.get("interval_seconds", ""))
    except ValueError:
        return None
    if seconds <= 0:
        return None
    return Heartbeat(name, timedelta(seconds=seconds), at, labels, summary)


def record_beat(current: Heartbeat | None, beat: Heartbeat) -> tuple[Heartbeat, bool]:
    """The heartbeat after a beat, and whether it came back from missed (its alert must resolve).
    A late-delivered older beat does not move the clock back."""
    if current is None:
        return beat, False
    latest = beat if beat.last_beat_at >= current.last_beat_at else current
    came_back = current.missed and beat.last_beat_at >= current.due_at
    missed = current.missed and not came_back
    return replace(latest, missed=missed), came_back


def overdue(heartbeat: Heartbeat, now: datetime) -> bool:
    return not heartbeat.missed and now >= heartbeat.due_at


def missed(heartbeat: Heartbeat) -> tuple[Heartbeat, Observation]:
    """Mark it missed, with the synthetic firing alert to raise (at the due time, a deterministic event id)."""
    due = heartbeat.due_at
    obs = Observation(
        event_id=f"{heartbeat.fingerprint}:missed:{due.isoformat()}",
        firing=True,
        severity=SEVERITY_MAJOR,
        title=heartbeat.summary or f"Heartbeat {heartbeat.name} missed",
        description=f"no beat of {heartbeat.name} since {heartbeat.last_beat_at.isoformat()}"
        f" (expected every {int(heartbeat.interval.total_seconds())} s)",
        source=SOURCE,
        labels=_binding_labels(heartbeat.labels),
        at=due,
    )
    return replace(heartbeat, missed=True), obs


def back(heartbeat: Heartbeat, event_id: str) -> Observation:
    """The resolve of the synthetic alert, at the returning beat's time."""
    return Observation(
        event_id=event_id,
        firing=False,
        severity=SEVERITY_MAJOR,
        title=heartbeat.summary or f"Heartbeat {heartbeat.name} missed",
        description="",
        source=SOURCE,
        labels=_binding_labels(heartbeat.labels),
        at=heartbeat.last_beat_at,
    )


def _binding_labels(labels: Mapping[str, str]) -> dict[str, str]:
    # `ci` may name the CI rather than give its id: offered as ci_name too, which binding tries by name/alias.
    out = dict(labels)
    if out.get("ci") and "ci_name" not in out:
        out["ci_name"] = out["ci"]
    return out
