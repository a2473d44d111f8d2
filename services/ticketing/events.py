"""Incident changes as IncidentEvent messages (incidents.events, and webhooks as CloudEvents). Pure."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.shared.contracts import IncidentEvent
from services.shared.contracts.timestamps import stamp

from .clocks import ClockView, SlaRules, views
from .incident import Change, Event, Incident


@dataclass(frozen=True, slots=True)
class Cause:
    """The alert behind a pipeline change, to trace latency end to end."""

    event_id: str = ""
    received_at: datetime | None = None


NO_CAUSE = Cause()


def incident_events(change: Change, rules: SlaRules, cause: Cause = NO_CAUSE) -> list[IncidentEvent]:
    """One message per event of the change; `sequence` is the incident's version after that event."""
    if not change.events:
        return []  # a repeat, counted silently: nothing to tell, and its SLA views would cost most of its path
    first = change.incident.version - len(change.events) + 1
    previous_priority = change.before.priority if change.before else 0
    clocks = views(change.incident, change.incident.updated_at, rules)  # one incident state: the same for each
    return [
        _message(change, event, first + n, n == 0, previous_priority, clocks, cause)
        for n, event in enumerate(change.events)
    ]


def _message(
    change: Change,
    event: Event,
    sequence: int,
    leads: bool,
    previous_priority: int,
    clocks: dict[str, ClockView],
    cause: Cause,
) -> IncidentEvent:
    i = change.incident
    m = IncidentEvent(
        event_id=str(uuid.uuid4()),
        sequence=sequence,
        type=event.type,
        actor=change.actor,
        note=change.note if leads else "",
        cause_event_id=cause.event_id,
        sla_clock=event.sla_clock,
        sla_threshold=event.sla_threshold,
        escalation_group=event.escalation_group,
        escalation_level=event.escalation_level,
        previous_priority=previous_priority if event.type == "priority_changed" else 0,
    )
    _fill(m, i, clocks)
    stamp(m.occurred_at, i.updated_at)
    if cause.received_at is not None:
        stamp(m.cause_received_at, cause.received_at)
    return m


def _fill(m: IncidentEvent, i: Incident, clocks: dict[str, ClockView]) -> None:
    m.incident_id, m.number, m.title, m.status = i.id, i.number or "", i.title, i.status
    m.priority, m.impact, m.urgency, m.group_key = i.priority, i.impact, i.urgency, i.group_key
    m.alert_count, m.description, m.ci_id, m.ci_name = i.alert_count, i.description, i.ci_id, i.ci_name
    m.service, m.assignment_group, m.assignee = i.service, i.assignment_group, i.assignee
    m.known_error_id, m.workaround, m.change_id = i.known_error_id, i.workaround, i.change_id
    m.during_change, m.flapping, m.resolution_code = i.during_change, i.flapping, i.resolution_code
    m.previous_incident_id = i.previous_incident_id or ""
    m.affected_ci_ids.extend(i.affected_ci_ids)
    for name, value in (
        ("opened_at", i.opened_at),
        ("resolved_at", i.resolved_at),
        ("acknowledged_at", i.acknowledged_at),
        ("closed_at", i.closed_at),
    ):
        if value is not None:
            stamp(getattr(m, name), value)
    for name, clock in (("response_due_at", clocks["response"]), ("resolution_due_at", clocks["resolution"])):
        if clock.due_at is not None:
            stamp(getattr(m, name), clock.due_at)
