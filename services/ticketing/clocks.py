"""An incident's two SLA clocks: built from the incident, evaluated on every change and by the SLA timer.
Pure: `now` is passed in.

- Response: from opening to the first move out of `new` (acknowledge, assign, resolve, cancel); never paused.
- Resolution: from opening to resolve (or cancel); paused while on hold and while resolved before a reopen.
Each crossing of a warning threshold or of the breach is one event, followed by its escalations. The highest
share reached is kept on the incident, so each fires once and a breach is never un-recorded.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.shared.frozen import evolve

from . import sla
from .escalation import EscalationPolicy, escalate
from .incident import Change, Event, Incident, with_events


@dataclass(frozen=True)
class SlaRules:
    policies: Mapping[int, sla.SlaPolicy] = field(default_factory=lambda: sla.DEFAULT_POLICIES)
    thresholds: sla.Thresholds = sla.DEFAULT_THRESHOLDS
    escalation: EscalationPolicy = EscalationPolicy("service-desk")

    def policy(self, priority: int) -> sla.SlaPolicy:
        return self.policies.get(priority) or sla.DEFAULT_POLICIES.get(priority) or sla.DEFAULT_POLICIES[5]


@dataclass(frozen=True)
class ClockView:
    """One clock as the API shows it."""

    target_seconds: float
    due_at: datetime | None  # None while paused
    state: str
    breached: bool


def clocks(incident: Incident, rules: SlaRules) -> tuple[sla.SlaClock, sla.SlaClock]:
    pair = _pair(incident, rules)
    return pair.response, pair.resolution


@dataclass(frozen=True, slots=True)
class _Clocks:
    """An incident's two clocks, and their due instants as asked (each a walk over pauses and the calendar)."""

    response: sla.SlaClock
    resolution: sla.SlaClock
    due: dict[tuple[str, float], datetime | None]

    def due_at(self, clock: sla.SlaClock, share: float = 1.0) -> datetime | None:
        key = (clock.kind.value, share)
        if key not in self.due:
            self.due[key] = sla.due_at(clock, share)
        return self.due[key]


# The clocks depend on a few fields that change rarely (priority, opened, responded, resolved, closed, pauses)
# while a busy incident changes with every alert: built once per distinct set, the last _CACHED sets kept.
_CACHED = 4096
_cache: dict[tuple, _Clocks] = {}


def _pair(incident: Incident, rules: SlaRules) -> _Clocks:
    policy = rules.policy(incident.priority)
    finished = incident.resolved_at or incident.closed_at
    pauses = _clipped(incident)
    key = (id(policy), incident.opened_at, incident.responded_at, finished, pauses)
    pair = _cache.get(key)
    # Keyed by the policy's identity (hashing a calendar is dear); what the clocks take from the policy is checked
    # too, so a policy collected and its id reused never finds clocks other than its own.
    if pair is None or (pair.response.target, pair.resolution.target, pair.response.calendar) != (
        policy.response,
        policy.resolution,
        policy.calendar,
    ):
        pair = _Clocks(
            sla.SlaClock.response(policy, incident.opened_at, incident.responded_at or finished),
            sla.SlaClock.resolution(policy, incident.opened_at, pauses, finished),
            {},
        )
        if len(_cache) >= _CACHED:
            _cache.clear()
        _cache[key] = pair
    return pair


def _clipped(incident: Incident) -> tuple[sla.Pause, ...]:
    # Pauses never start before the clock (a hold recorded with a skewed clock must not rewind it).
    return tuple(
        (max(s, incident.opened_at), e if e is None else max(e, incident.opened_at)) for s, e in incident.pauses
    )


def tick(change: Change, now: datetime, rules: SlaRules) -> Change:
    """The change with the SLA events crossed by `now` (each followed by its escalations) and the next check."""
    incident = change.incident
    pair = _pair(incident, rules)
    response, resolution = pair.response, pair.resolution
    reached = (incident.response_reached, incident.resolution_reached)
    evaluations = [
        sla.evaluate(c, now, r, rules.thresholds) for c, r in zip((response, resolution), reached, strict=True)
    ]
    crossed = sorted(
        ((signal, clock) for clock, e in zip((response, resolution), evaluations, strict=True) for signal in e.signals),
        key=lambda pair_: (pair.due_at(pair_[1], pair_[0].threshold) or now, pair_[0].threshold),
    )
    events: list[Event] = []
    for signal, _ in crossed:
        kind = "sla_breach" if signal.kind is sla.SignalKind.BREACH else "sla_warning"
        clock_name = signal.clock.value if signal.clock else ""
        events.append(Event(kind, sla_clock=clock_name, sla_threshold=signal.threshold))
        for e in escalate(signal, incident.assignment_group or None, rules.escalation):
            events.append(Event("escalated", clock_name, signal.threshold, e.group, e.level))
    recorded = (evaluations[0].recorded, evaluations[1].recorded)
    # The marks move the next check only; the clocks stay those of `incident`.
    marked = evolve(
        incident,
        response_reached=recorded[0],
        resolution_reached=recorded[1],
        sla_check_at=_next_check(pair, recorded, rules),
    )
    return with_events(change, marked, tuple(events))


def next_check(incident: Incident, rules: SlaRules) -> datetime | None:
    """When the next threshold of a running clock falls due; None when nothing can cross before a change."""
    return _next_check(_pair(incident, rules), (incident.response_reached, incident.resolution_reached), rules)


def _next_check(pair: _Clocks, reached: tuple[float, float], rules: SlaRules) -> datetime | None:
    due = []
    for clock, mark in zip((pair.response, pair.resolution), reached, strict=True):
        if clock.stopped_at is not None:
            continue  # evaluated at the change that stopped it
        upcoming = [t for t in (*rules.thresholds.warnings, rules.thresholds.breach) if t > mark]
        at = pair.due_at(clock, upcoming[0]) if upcoming else None
        if at is not None:
            due.append(at)
    return min(due, default=None)


def views(incident: Incident, now: datetime, rules: SlaRules) -> dict[str, ClockView]:
    pair = _pair(incident, rules)
    out = {}
    for clock, reached in ((pair.response, incident.response_reached), (pair.resolution, incident.resolution_reached)):
        state = sla.state(clock, now, rules.thresholds, reached)
        out[clock.kind.value] = ClockView(
            target_seconds=clock.target.total_seconds(),
            due_at=pair.due_at(clock),
            state=state.value,
            breached=max(reached, sla.fraction(clock, now)) >= rules.thresholds.breach,
        )
    return out


def met(incident: Incident, rules: SlaRules) -> dict[str, bool]:
    """Per clock, whether its target was met (for compliance, counted when the incident closes)."""
    reached = (incident.response_reached, incident.resolution_reached)
    return {
        c.kind.value: max(r, sla.fraction(c, c.stopped_at or c.started_at)) < rules.thresholds.breach
        for c, r in zip(clocks(incident, rules), reached, strict=True)
    }
